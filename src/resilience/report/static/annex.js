// Sort and filter the annex table in the page; nothing is fetched.
(function () {
  "use strict";
  var table = document.getElementById("annex");
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var filter = document.getElementById("filter");
  var unreferred = document.getElementById("unreferred");
  var shown = document.getElementById("shown");
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
  var heads = table.tHead.rows[0].cells;

  function keyOf(row, col, numeric) {
    var cell = row.cells[col];
    if (!numeric) { return cell.textContent; }
    var v = parseFloat(cell.getAttribute("data-v"));
    return isNaN(v) ? null : v;
  }

  // The first click sorts the column's own way (data-first: the highest likelihood and harm first,
  // priority from 1); the next click reverses it. Empty cells stay last either way.
  function sortBy(col, numeric, first) {
    var head = heads[col];
    var current = head.getAttribute("aria-sort");
    var direction = current === "ascending" ? "descending" : "ascending";
    if (current === "none") { direction = first === "desc" ? "descending" : "ascending"; }
    for (var i = 0; i < heads.length; i++) { heads[i].setAttribute("aria-sort", "none"); }
    head.setAttribute("aria-sort", direction);
    var sign = direction === "ascending" ? 1 : -1;
    var keyed = rows.map(function (row, i) { return [keyOf(row, col, numeric), i, row]; });
    keyed.sort(function (a, b) {
      var emptyA = a[0] === null || a[0] === "", emptyB = b[0] === null || b[0] === "";
      if (emptyA !== emptyB) { return emptyA ? 1 : -1; }
      var c = emptyA ? 0 : (numeric ? a[0] - b[0] : a[0].localeCompare(b[0]));
      return c !== 0 ? sign * c : a[1] - b[1];
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (k) { fragment.appendChild(k[2]); });
    body.appendChild(fragment);
  }

  Array.prototype.forEach.call(table.tHead.querySelectorAll("button"), function (button) {
    button.addEventListener("click", function () {
      sortBy(parseInt(button.getAttribute("data-col"), 10), button.getAttribute("data-num") === "1",
             button.getAttribute("data-first"));
    });
  });

  function apply() {
    var q = filter.value.trim().toLowerCase();
    var only = unreferred.getAttribute("aria-pressed") === "true";
    var count = 0;
    rows.forEach(function (row, i) {
      var hit = (!q || texts[i].indexOf(q) !== -1) && (!only || row.getAttribute("data-u") === "1");
      row.hidden = !hit;
      if (hit) { count++; }
    });
    shown.textContent = count.toLocaleString("en-GB") + (count === 1 ? " row shown" : " rows shown");
  }

  var timer = null;
  filter.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 150);
  });
  unreferred.addEventListener("click", function () {
    unreferred.setAttribute("aria-pressed", unreferred.getAttribute("aria-pressed") === "true" ? "false" : "true");
    apply();
  });
}());
