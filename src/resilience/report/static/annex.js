// Sort and filter the annex table in the page; nothing is fetched.
(function () {
  "use strict";
  var table = document.getElementById("annex");
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown");
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
  var heads = table.tHead.rows[0].cells;

  function keyOf(row, col, numeric) {
    var cell = row.cells[col];
    if (!numeric) { return cell.textContent; }
    var v = parseFloat(cell.getAttribute("data-v"));
    return isNaN(v) ? Infinity : v;
  }

  function sortBy(col, numeric) {
    var head = heads[col];
    var ascending = head.getAttribute("aria-sort") !== "ascending";
    for (var i = 0; i < heads.length; i++) { heads[i].setAttribute("aria-sort", "none"); }
    head.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var keyed = rows.map(function (row, i) { return [keyOf(row, col, numeric), i, row]; });
    keyed.sort(function (a, b) {
      var c = numeric ? a[0] - b[0] : a[0].localeCompare(b[0]);
      if (!ascending) { c = -c; }
      return c !== 0 ? c : a[1] - b[1];
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (k) { fragment.appendChild(k[2]); });
    body.appendChild(fragment);
  }

  Array.prototype.forEach.call(table.tHead.querySelectorAll("button"), function (button) {
    button.addEventListener("click", function () {
      sortBy(parseInt(button.getAttribute("data-col"), 10), button.getAttribute("data-num") === "1");
    });
  });

  var timer = null;
  filter.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = filter.value.trim().toLowerCase();
      var count = 0;
      rows.forEach(function (row, i) {
        var hit = !q || texts[i].indexOf(q) !== -1;
        row.hidden = !hit;
        if (hit) { count++; }
      });
      shown.textContent = count.toLocaleString("en-GB") + " rows shown";
    }, 150);
  });
}());
