"""Inline SVG charts with no JavaScript and no external assets.

Reports must open offline and be safe to share, so charts are plain SVG strings built
here. Every label passes through `esc` because labels can carry dataset text (category
names from a user's taxonomy, model names from a config file).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = (
    "#4C78A8",
    "#F58518",
    "#E45756",
    "#72B7B2",
    "#54A24B",
    "#EECA3B",
    "#B279A2",
    "#FF9DA6",
    "#9D755D",
    "#BAB0AC",
)
FONT = "font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;font-size:12px"


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def _svg(width: float, height: float, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{esc(title)}" '
        f'style="{FONT}"><title>{esc(title)}</title>' + "".join(body) + "</svg>"
    )


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    intervals: Sequence[tuple[float, float]] | None = None,
    max_value: float | None = None,
    percent: bool = True,
    width: int = 640,
) -> str:
    """Horizontal bars (one per label) with optional confidence-interval whiskers."""
    row_h, label_w, pad = 22, 190, 8
    plot_w = width - label_w - 70
    top = max([*values, *(hi for _, hi in intervals or [])], default=0.0)
    vmax = max_value if max_value is not None else (top or 1.0)
    height = pad * 2 + row_h * max(len(labels), 1)
    body: list[str] = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = pad + i * row_h
        w = 0 if vmax == 0 else plot_w * min(value, vmax) / vmax
        body.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{esc(_clip(label, 28))}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="{PALETTE[0]}"><title>{esc(label)}: {_fmt(value, percent)}</title></rect>'
        )
        if intervals:
            lo, hi = intervals[i]
            x1 = label_w + plot_w * min(lo, vmax) / vmax if vmax else label_w
            x2 = label_w + plot_w * min(hi, vmax) / vmax if vmax else label_w
            body.append(
                f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y + 11}" y2="{y + 11}" '
                f'stroke="#333" stroke-width="1.2"/>'
            )
        body.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{_fmt(value, percent)}</text>')
    return _svg(width, height, body, title)


def stacked_bars(
    rows: Sequence[str],
    segments: Sequence[str],
    values: Sequence[Sequence[float]],
    *,
    title: str,
    width: int = 640,
) -> str:
    """One 100%-stacked bar per row; `values[r][s]` are shares (normalised per row)."""
    row_h, label_w, legend_h = 24, 190, 22
    plot_w = width - label_w - 20
    height = legend_h + 8 + row_h * max(len(rows), 1)
    body: list[str] = []
    x = label_w
    for s, name in enumerate(segments):
        body.append(
            f'<rect x="{x}" y="4" width="10" height="10" fill="{PALETTE[s % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="13">{esc(_clip(name, 22))}</text>'
        )
        x += 24 + 7 * min(len(name), 22)
    for r, label in enumerate(rows):
        y = legend_h + 4 + r * row_h
        total = sum(values[r]) or 1.0
        body.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{esc(_clip(label, 28))}</text>'
        )
        x0 = float(label_w)
        for s, v in enumerate(values[r]):
            w = plot_w * v / total
            if w <= 0:
                continue
            body.append(
                f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{esc(label)} · {esc(segments[s])}: '
                f"{v / total:.1%}</title></rect>"
            )
            x0 += w
    return _svg(width, height, body, title)


def heatmap(
    rows: Sequence[str],
    cols: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    title: str,
    cell: int = 34,
) -> str:
    """Rows × columns of shares in [0, 1]; None cells are grey (no data)."""
    label_w, head_h = 170, 120
    width = label_w + cell * len(cols) + 10
    height = head_h + cell * len(rows) + 10
    body: list[str] = []
    for c, name in enumerate(cols):
        x = label_w + c * cell + cell / 2
        body.append(
            f'<text transform="translate({x:.1f},{head_h - 6}) rotate(-55)">{esc(_clip(name, 22))}</text>'
        )
    for r, name in enumerate(rows):
        y = head_h + r * cell
        body.append(
            f'<text x="{label_w - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">{esc(_clip(name, 24))}</text>'
        )
        for c, v in enumerate(values[r]):
            x = label_w + c * cell
            fill = "#e5e5e5" if v is None else _blend(v)
            text = "–" if v is None else f"{v * 100:.0f}"
            color = "#fff" if v is not None and v > 0.55 else "#222"
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}">'
                f"<title>{esc(name)} · {esc(cols[c])}: {'no data' if v is None else f'{v:.1%}'}</title></rect>"
                f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 + 3:.1f}" text-anchor="middle" '
                f'fill="{color}" style="font-size:10px">{text}</text>'
            )
    return _svg(width, height, body, title)


def scatter(
    points: Sequence[tuple[str, float, float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    size: int = 420,
) -> str:
    """Labelled points on [0, 1] × [0, 1] axes (e.g. benign compliance vs harmful refusal)."""
    pad = 48
    plot = size - pad * 2
    body = [
        f'<rect x="{pad}" y="{pad}" width="{plot}" height="{plot}" fill="none" stroke="#999"/>',
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">{esc(x_label)}</text>',
        f'<text transform="translate(14,{size / 2}) rotate(-90)" text-anchor="middle">{esc(y_label)}</text>',
    ]
    for t in (0.0, 0.5, 1.0):
        body.append(
            f'<text x="{pad + plot * t:.0f}" y="{pad + plot + 14}" text-anchor="middle">{t:.1f}</text>'
        )
        body.append(
            f'<text x="{pad - 6}" y="{pad + plot * (1 - t) + 4:.0f}" text-anchor="end">{t:.1f}</text>'
        )
    for i, (label, x, y) in enumerate(points):
        cx, cy = pad + plot * x, pad + plot * (1 - y)
        body.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{esc(label)}: ({x:.2f}, {y:.2f})</title></circle>"
            f'<text x="{cx + 7:.1f}" y="{cy - 6:.1f}">{esc(_clip(label, 24))}</text>'
        )
    return _svg(size, size, body, title)


def _blend(v: float) -> str:
    """White → deep red for 0 → 1."""
    v = min(max(v, 0.0), 1.0)
    r = int(255 - (255 - 178) * v)
    g = int(255 - (255 - 24) * v)
    b = int(255 - (255 - 43) * v)
    return f"#{r:02x}{g:02x}{b:02x}"


def _clip(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def _fmt(value: float, percent: bool) -> str:
    return (
        f"{value:.1%}"
        if percent
        else f"{value:,.0f}"
        if float(value).is_integer()
        else f"{value:.3g}"
    )
