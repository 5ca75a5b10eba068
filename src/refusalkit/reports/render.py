"""Render a `Report` to self-contained HTML, Markdown and JSON.

Escaping rules (model text is untrusted):
- HTML: every string goes through `html.escape`; only SVG produced by `reports.svg`
  (which escapes its own labels) is inserted raw. No scripts, no external assets.
- Markdown: table cells escape `| < > & [ ] * _ \\` and backticks and fold newlines;
  example text goes into a fenced block whose fence is longer than any backtick run in
  the text, so nothing inside can close it or render as HTML/links.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

from refusalkit.core.io import atomic_write, dumps_pretty
from refusalkit.reports.document import (
    Chart,
    Example,
    Examples,
    Metrics,
    Report,
    Table,
    Text,
    truncate,
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin-bottom:4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}
.sub{color:#666;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:22px;font-weight:600}.card .l{color:#555}.card .n{color:#888;font-size:12px}
table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:13px}
th,td{border:1px solid #e3e3e3;padding:4px 8px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f2f2}
caption{caption-side:top;text-align:left;color:#555;padding:4px 0}
.ex{background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:8px 12px;margin:8px 0}
.ex pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:6px;margin:4px 0;font-size:12px}
.tag{display:inline-block;background:#eef;border-radius:4px;padding:1px 6px;margin-right:4px;font-size:12px}
nav a{margin-right:12px}
"""


def _h(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return escape(f"{value:.4g}")
    return escape(str(value), quote=True)


def _html_example(ex: Example, max_chars: int) -> str:
    tags = "".join(f'<span class="tag">{_h(k)}: {_h(v)}</span>' for k, v in ex.labels.items())
    parts = [f'<div class="ex"><div><b>{_h(ex.title)}</b> {tags}</div>']
    for name, text in (("prompt", ex.prompt), ("response", ex.response)):
        short, cut = truncate(text or "", max_chars)
        if cut:
            parts.append(
                f"<details><summary>{name} ({len(text):,} chars, click to expand)</summary>"
                f"<pre>{_h(text)}</pre></details><pre>{_h(short)}</pre>"
            )
        else:
            parts.append(f"<div>{name}:</div><pre>{_h(text)}</pre>")
    parts.append("</div>")
    return "".join(parts)


def render_html(report: Report) -> str:
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        # No network, no scripts: the report is safe to open anywhere.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_h(report.title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_h(report.title)}</h1>",
    ]
    if report.subtitle:
        out.append(f"<p class='sub'>{_h(report.subtitle)}</p>")
    if len(report.sections) > 2:
        links = "".join(
            f"<a href='#{_h(_anchor(s.anchor or s.title))}'>{_h(s.title)}</a>"
            for s in report.sections
        )
        out.append(f"<nav>{links}</nav>")
    for sec in report.sections:
        out.append(f"<h2 id='{_h(_anchor(sec.anchor or sec.title))}'>{_h(sec.title)}</h2>")
        for block in sec.blocks:
            out.append(_html_block(block))
    out.append("</main></body></html>")
    return "\n".join(out)


def _html_block(block: Any) -> str:
    if isinstance(block, Text):
        return f"<p>{_h(block.text)}</p>"
    if isinstance(block, Metrics):
        cards = "".join(
            f"<div class='card'><div class='v'>{_h(v)}</div><div class='l'>{_h(label)}</div>"
            f"<div class='n'>{_h(note)}</div></div>"
            for label, v, note in block.items
        )
        return f"<div class='cards'>{cards}</div>"
    if isinstance(block, Table):
        cap = f"<caption>{_h(block.caption)}</caption>" if block.caption else ""
        head = "".join(f"<th>{_h(c)}</th>" for c in block.columns)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td class='num'>{_h(c)}</td>" if i in block.numeric else f"<td>{_h(c)}</td>"
                for i, c in enumerate(row)
            )
            + "</tr>"
            for row in block.rows
        )
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Chart):
        return f"<figure>{block.svg}<figcaption class='sub'>{_h(block.alt)}</figcaption></figure>"
    if isinstance(block, Examples):
        return "".join(_html_example(ex, block.max_chars) for ex in block.items)
    raise TypeError(f"unknown report block {type(block).__name__}")


# -- Markdown ------------------------------------------------------------------


def md_escape(text: Any) -> str:
    """Escape text for a Markdown table cell or inline position."""
    if text is None:
        return ""
    if isinstance(text, float):
        text = f"{text:.4g}"
    s = str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = re.sub(r"([\\`*_\[\]|#])", r"\\\1", s)
    return s.replace("\r", " ").replace("\n", " ")


def md_fence(text: str) -> str:
    """A fenced block that the text cannot break out of."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def render_markdown(report: Report) -> str:
    out = [f"# {md_escape(report.title)}", ""]
    if report.subtitle:
        out += [md_escape(report.subtitle), ""]
    for sec in report.sections:
        out += [f"## {md_escape(sec.title)}", ""]
        for block in sec.blocks:
            out += [_md_block(block), ""]
    return "\n".join(out).rstrip() + "\n"


def _md_block(block: Any) -> str:
    if isinstance(block, Text):
        return md_escape(block.text)
    if isinstance(block, Metrics):
        return "\n".join(
            f"- **{md_escape(label)}**: {md_escape(v)}" + (f" ({md_escape(n)})" if n else "")
            for label, v, n in block.items
        )
    if isinstance(block, Table):
        lines = []
        if block.caption:
            lines += [f"*{md_escape(block.caption)}*", ""]
        lines.append("| " + " | ".join(md_escape(c) for c in block.columns) + " |")
        lines.append(
            "|"
            + "|".join("---:" if i in block.numeric else "---" for i in range(len(block.columns)))
            + "|"
        )
        lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Chart):
        return f"*Chart: {md_escape(block.alt)} (see the HTML report).*"
    if isinstance(block, Examples):
        parts = []
        for ex in block.items:
            labels = ", ".join(f"{md_escape(k)}: {md_escape(v)}" for k, v in ex.labels.items())
            prompt, _ = truncate(ex.prompt or "", block.max_chars)
            response, _ = truncate(ex.response or "", block.max_chars)
            parts.append(
                f"**{md_escape(ex.title)}** ({labels})\n\nPrompt:\n\n{md_fence(prompt)}\n\n"
                f"Response:\n\n{md_fence(response)}"
            )
        return "\n\n".join(parts)
    raise TypeError(f"unknown report block {type(block).__name__}")


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


def write_report(report: Report, out_dir: str | Path, stem: str = "report") -> dict[str, Path]:
    """Write `<stem>.html`, `<stem>.md` and `<stem>.json` into `out_dir`."""
    folder = Path(out_dir)
    paths = {
        "html": folder / f"{stem}.html",
        "markdown": folder / f"{stem}.md",
        "json": folder / f"{stem}.json",
    }
    atomic_write(paths["html"], render_html(report))
    atomic_write(paths["markdown"], render_markdown(report))
    atomic_write(paths["json"], dumps_pretty({"title": report.title, **report.data}))
    return paths
