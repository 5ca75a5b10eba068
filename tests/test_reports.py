"""Reports must render untrusted model text inert in every format."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from refusalkit.reports import Chart, Example, Examples, Metrics, Report, Table, Text, write_report
from refusalkit.reports.render import md_fence, render_html, render_markdown
from refusalkit.reports.svg import bar_chart, heatmap, scatter, stacked_bars

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)> | ``` [link](javascript:x) **bold**"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.attrs.extend(name for name, _ in attrs)


def _report() -> Report:
    rep = Report(title="Audit <b>x</b>", subtitle=EVIL, data={"n": 3})
    rep.section("Summary").add(
        Text(EVIL),
        Metrics([("rows", "3", EVIL)]),
        Table(columns=["name", "rate"], rows=[[EVIL, 0.5]], numeric=(1,)),
        Chart(
            svg=bar_chart([EVIL, "b"], [0.2, 0.4], title=EVIL, intervals=[(0.1, 0.3), (0.3, 0.5)]),
            alt=EVIL,
        ),
    )
    rep.section("Examples").add(
        Examples(
            [Example(title=EVIL, prompt=EVIL, response=EVIL * 50, labels={"cat": EVIL})],
            max_chars=100,
        )
    )
    return rep


def test_html_has_no_executable_content_from_model_text() -> None:
    html = render_html(_report())
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert not [a for a in parser.attrs if a.startswith("on")]
    assert "&lt;script&gt;" in html
    # long text is collapsible, full text still present (escaped)
    assert "<details>" in html


def test_markdown_escapes_cells_and_fences_examples() -> None:
    md = render_markdown(_report())
    outside_fences = re.sub(r"^(`{3,})text\n.*?\n\1$", "", md, flags=re.M | re.S)
    assert "<script>" not in outside_fences and "<img" not in outside_fences
    table_line = next(line for line in md.splitlines() if line.startswith("| &lt;script"))
    assert table_line.count(" | ") == 1  # the pipe inside the cell is escaped
    # the example fence is longer than any backtick run inside it
    fences = re.findall(r"^(`{3,})text$", md, flags=re.M)
    assert fences and all(len(f) >= 4 for f in fences)


def test_md_fence_cannot_be_closed_from_inside() -> None:
    text = "a ```` b"
    block = md_fence(text)
    fence = block.splitlines()[0].removesuffix("text")
    assert len(fence) == 5 and block.endswith("\n" + fence)


def test_write_report_writes_three_formats(tmp_path: Path) -> None:
    paths = write_report(_report(), tmp_path / "out")
    assert json.loads(paths["json"].read_text()) == {"title": "Audit <b>x</b>", "n": 3}
    assert paths["html"].read_text().startswith("<!doctype html>")
    assert paths["markdown"].read_text().startswith("# Audit &lt;b&gt;x&lt;/b&gt;")


def test_svg_charts_escape_labels_and_are_well_formed() -> None:
    import xml.etree.ElementTree as ET

    for svg in (
        bar_chart([EVIL], [0.3], title=EVIL),
        stacked_bars([EVIL], ["a", EVIL], [[1, 3]], title="t"),
        heatmap([EVIL], ["x", EVIL], [[0.2, None]], title="t"),
        scatter([(EVIL, 0.2, 0.9)], title="t", x_label=EVIL, y_label="y"),
    ):
        root = ET.fromstring(svg)  # raises if escaping broke the XML
        assert not [el for el in root.iter() if el.tag.endswith("script")]


def test_stacked_bar_widths_follow_shares() -> None:
    import xml.etree.ElementTree as ET

    svg = stacked_bars(["r"], ["a", "b"], [[1, 3]], title="t", width=640)
    rects = [
        el
        for el in ET.fromstring(svg).iter()
        if el.tag.endswith("rect") and el.get("height") != "10"
    ]
    widths = [float(r.get("width")) for r in rects]
    assert abs(widths[1] / widths[0] - 3.0) < 1e-6
