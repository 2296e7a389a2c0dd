"""Evaluation reports: histogram plots with ratio panels and a self-contained HTML page."""

from kiss_core.report.html import write_report
from kiss_core.report.plots import Histogram, render_histogram

__all__ = ["Histogram", "render_histogram", "write_report"]
