"""Shared report rendering: build a `Report` once, write HTML, Markdown and JSON."""

from refusalkit.reports.document import (
    Chart,
    Example,
    Examples,
    Metrics,
    Report,
    Section,
    Table,
    Text,
)
from refusalkit.reports.render import md_escape, render_html, render_markdown, write_report

__all__ = [
    "Chart",
    "Example",
    "Examples",
    "Metrics",
    "Report",
    "Section",
    "Table",
    "Text",
    "md_escape",
    "render_html",
    "render_markdown",
    "write_report",
]
