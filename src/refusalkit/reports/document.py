"""A tiny document model shared by every report refusalkit writes.

Audits, model audits and benchmarks build a `Report` of typed blocks (text, metrics,
tables, charts, examples) once; `render_html`, `render_markdown` and `to_json` turn it
into the three formats. Keeping content separate from rendering means escaping of
untrusted model text happens in exactly one place per format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Text:
    """A paragraph of trusted prose written by refusalkit (still escaped on render)."""

    text: str


@dataclass(slots=True)
class Metrics:
    """Headline numbers shown as cards: label -> value (already formatted) + optional note."""

    items: list[tuple[str, str, str]]  # (label, value, note)


@dataclass(slots=True)
class Table:
    """A table of cells; cells may hold untrusted text. `numeric` columns right-align."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str | None = None
    numeric: tuple[int, ...] = ()


@dataclass(slots=True)
class Chart:
    """An inline SVG chart (already rendered by `reports.svg`) with a text fallback."""

    svg: str
    alt: str
    data: Any = None  # the numbers behind the chart, for JSON output


@dataclass(slots=True)
class Example:
    """One example exchange: untrusted prompt/response text plus trusted labels."""

    title: str
    prompt: str
    response: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Examples:
    items: list[Example]
    max_chars: int = 600


Block = Text | Metrics | Table | Chart | Examples


@dataclass(slots=True)
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    anchor: str | None = None

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self


@dataclass(slots=True)
class Report:
    """A whole report; `data` is the machine-readable payload written to report.json."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def section(self, title: str, anchor: str | None = None) -> Section:
        sec = Section(title=title, anchor=anchor)
        self.sections.append(sec)
        return sec


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut long model text for display; returns (text, was_cut)."""
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars].rstrip() + " …", True
