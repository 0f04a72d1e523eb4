"""Paper-style reports from run records: ``bilayer-bench report RUN_DIR... --out DIR``.

No model is run: tables (Markdown, LaTeX, CSV), figures (matplotlib, Agg) and a self-contained HTML page with a
Markdown twin are rendered from run directories and latency records alone, opening with their provenance.
Published figures of the papers appear as separate rows labelled "reported in paper", never ranked with ours.
"""

from bench.report.build import build_report, write_report
from bench.report.document import Report
from bench.report.load import ReportInputs, load_inputs

__all__ = ["Report", "ReportInputs", "build_report", "load_inputs", "write_report"]
