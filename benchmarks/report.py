"""Benchmark the commander's report: a 500-line week rendered to HTML and PDF.

Writes a fake scored week (the test suite's seeded fixture generator) and a previous week into a
temporary folder, then times ``build_report`` end to end and its parts (context, HTML, PDF).
Prints seconds (wall clock, and this process's CPU time, which a busy shared machine inflates
less) and HTML size as ratios to the targets (< 10 s, < 3 MB): a ratio below 1 meets the target.

    python benchmarks/report.py                   # 500 lines, 25 detail lines
    python benchmarks/report.py --lines 2000      # a large week
    python benchmarks/report.py --repeat 3        # best of three
"""
from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 10.0
TARGET_HTML_BYTES = 3_000_000


def _fixture_writer():
    """``write_fake_week`` from tests/test_report.py (loaded by path: tests are not a package)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "test_report.py"
    spec = importlib.util.spec_from_file_location("report_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_fake_week


def run_once(root: Path, n_lines: int, max_detail_lines: int) -> dict:
    from resilience.report import build_report, load_week, render_html, report_context
    from resilience.report.render import render_pdf

    write_fake_week = _fixture_writer()
    previous = write_fake_week(root / "2026-W46", n_lines=n_lines, seed=1, week="2026-W46")
    current = write_fake_week(root / "2026-W47", n_lines=n_lines, seed=2, first_line=n_lines // 10,
                              decisions=True)

    started, cpu_started = time.perf_counter(), time.process_time()
    html_path, pdf_path = build_report(current, previous, max_detail_lines=max_detail_lines)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started

    # the parts, for where the time goes
    started = time.perf_counter()
    context = report_context(load_week(current), load_week(previous).scores, max_detail_lines=max_detail_lines)
    context_seconds = time.perf_counter() - started
    started = time.perf_counter()
    html = render_html(context)
    html_seconds = time.perf_counter() - started
    started = time.perf_counter()
    render_pdf(html, root / "again.pdf")
    pdf_seconds = time.perf_counter() - started
    return {"seconds": total, "cpu_seconds": cpu, "html_bytes": html_path.stat().st_size, "pdf_bytes": pdf_path.stat().st_size,
            "context_seconds": context_seconds, "html_seconds": html_seconds, "pdf_seconds": pdf_seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=500, help="lines in the week (default 500)")
    parser.add_argument("--detail", type=int, default=25, help="lines with a detail page (default 25)")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the fastest is reported")
    args = parser.parse_args(argv)

    import logging

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            runs.append(run_once(Path(folder), args.lines, args.detail))
    best = min(runs, key=lambda r: r["seconds"])
    print(f"{args.lines:,} lines, {args.detail} detail pages")
    print(f"  build_report (HTML + PDF): {best['seconds']:.2f} s   ratio to {TARGET_SECONDS:.0f} s target: "
          f"{best['seconds'] / TARGET_SECONDS:.2f}")
    print(f"  CPU time of this process: {best['cpu_seconds']:.2f} s   ratio: {best['cpu_seconds'] / TARGET_SECONDS:.2f}"
          "  (the wall time above includes waiting for a busy machine)")
    print(f"  HTML size: {best['html_bytes'] / 1e6:.2f} MB   ratio to {TARGET_HTML_BYTES / 1e6:.0f} MB target: "
          f"{best['html_bytes'] / TARGET_HTML_BYTES:.2f}")
    print(f"  PDF size: {best['pdf_bytes'] / 1e6:.2f} MB")
    print(f"  parts: context {best['context_seconds']:.2f} s, HTML {best['html_seconds']:.2f} s, "
          f"PDF {best['pdf_seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
