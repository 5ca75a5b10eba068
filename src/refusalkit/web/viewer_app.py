"""`refusalkit serve`: browse saved run folders (audits, model audits, benchmarks).

Every page is a GET that only reads. A run is named in URLs by its path relative to the
results directory (`?r=...`) and looked up among the runs *found* there, so a request can
never name a path of its own. Charts are the report charts (`reports.composition` over
`reports.svg`) computed on the filtered rows; they are the only raw HTML inserted (SVG
that escapes its own labels).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from refusalkit.web import runs as R
from refusalkit.web.common import new_app, render
from refusalkit.web.security import Security

PAGE_SIZE = 50
REPORT_FILES = {
    "html": ("report.html", "text/html; charset=utf-8"),
    "md": ("report.md", "text/markdown; charset=utf-8"),
    "json": ("report.json", "application/json"),
}


class RunIndex:
    """The runs under a results directory, rescanned on demand, plus small caches."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._lock = threading.Lock()
        self.runs: dict[str, R.Run] = {}
        self._cache: OrderedDict[Any, Any] = OrderedDict()
        self.rescan()

    def rescan(self) -> list[R.Run]:
        found = R.discover(self.root)
        with self._lock:
            self.runs = {r.key: r for r in found}
        return found

    def get(self, key: str) -> R.Run:
        run = self.runs.get(key)
        if run is None:
            self.rescan()
            run = self.runs.get(key)
        if run is None:
            raise HTTPException(404, "no such run under the results folder")
        if run.error:
            raise HTTPException(422, f"this run cannot be read: {run.error}")
        return run

    def cached(self, key: Any, compute: Any) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = compute()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > 64:
                self._cache.popitem(last=False)
        return value


def _charts(comps: list[tuple[str, Any]]) -> list[Any]:
    """The audit report's composition charts (`reports.composition`) for these slices."""
    from refusalkit.reports.composition import (
        behavior_chart,
        category_heatmap,
        group_chart,
        rate_chart,
    )

    if not comps or comps[0][1].total == 0:
        return []
    charts = [rate_chart(comps), behavior_chart(comps), group_chart(comps)]
    if any(c.refusals for _, c in comps):
        charts.append(category_heatmap(comps))
    return charts


def _expected_view(split: list[tuple[str, dict[str, Any]]]) -> tuple[list[list[str]], Any]:
    """Rows of the expected-vs-actual table and the over/under-refusal scatter.

    For prompts that should be answered (`expected == comply`): the compliance rate;
    for prompts that should be refused: the refusal rate; each with a Wilson interval.
    """
    from refusalkit.core.stats import proportion_ci
    from refusalkit.reports.composition import fmt_estimate
    from refusalkit.reports.svg import scatter

    rows, points = [], []
    for name, by_expected in split:
        comply, refuse = by_expected.get("comply"), by_expected.get("refuse")
        comp_rate = (
            proportion_ci(comply.behavior["full_compliance"], comply.judged) if comply else None
        )
        ref_rate = refuse.refusal_rate() if refuse else None
        rows.append(
            [
                name,
                f"{comply.judged:,}" if comply else "0",
                fmt_estimate(comp_rate) if comp_rate else "–",
                f"{refuse.judged:,}" if refuse else "0",
                fmt_estimate(ref_rate) if ref_rate else "–",
                ", ".join(
                    f"{k}: {v.judged:,}"
                    for k, v in by_expected.items()
                    if k not in ("comply", "refuse")
                ),
            ]
        )
        measured = comply is not None and refuse is not None and comply.judged and refuse.judged
        if measured and comp_rate and ref_rate and (name != "all" or len(split) == 1):
            points.append((name, comp_rate.value, ref_rate.value))
    chart = None
    if points:
        svg = scatter(
            points,
            title="Benign compliance vs harmful refusal",
            x_label="compliance on prompts to answer",
            y_label="refusal on prompts to refuse",
        )
        chart = {
            "svg": svg,
            "alt": "Over- vs under-refusal: one point per slice (top right is best)",
        }
    return rows, chart


def _headline(report: Any) -> list[tuple[str, str]]:
    """Scalar top-level values of report.json (whatever the run kind wrote)."""
    out = []
    if isinstance(report, dict):
        for k, v in report.items():
            if isinstance(v, str | int | float):
                out.append((str(k), str(v)))
    return out[:30]


def create_viewer(results_dir: str | Path, sec: Security) -> tuple[Any, int]:
    """The FastAPI app for `refusalkit serve`, and how many runs it found."""
    index = RunIndex(Path(results_dir))
    app = new_app(sec, "refusalkit serve")

    def page(template: str, status: int = 200, /, **ctx: Any) -> Any:
        return render(sec, template, status, root=str(index.root), **ctx)

    @app.get("/")
    def home() -> Any:
        found = index.rescan()
        if len(found) == 1 and not found[0].error:
            return RedirectResponse(f"/run?r={_q(found[0].key)}", status_code=303)
        return page("viewer_index.html", title="Runs", runs=found)

    @app.get("/runs")
    def all_runs() -> Any:
        return page("viewer_index.html", title="Runs", runs=index.rescan())

    @app.get("/run")
    def run_page(request: Request, r: str, q: str = "", page_no: int = 1) -> Any:
        run = index.get(r)
        params = dict(request.query_params)
        values = index.cached(("values", run.stamp()), lambda: R.filter_values(run))
        filters = R.clean_filters(run, params)
        query = q.strip()[:200]
        by = R.slice_column(run, values)
        counts = index.cached(
            ("counts", run.stamp(), tuple(sorted(filters.items())), query, by),
            lambda: R.verdict_counts(run, filters, query, by),
        )
        comps = R.compositions(counts, by)
        expected_rows, expected_chart = _expected_view(R.expected_split(counts, by))
        page_no = max(1, page_no)
        total, numbers = R.find_rows(run, filters, query, (page_no - 1) * PAGE_SIZE, PAGE_SIZE)
        cols = [c for c in R.LIST_COLUMNS if c in run.columns]
        rows = list(zip(numbers, R.read_rows(run, numbers, cols), strict=True)) if numbers else []
        report = _read_report(_report_file(index, run, "report.json"))
        base = {k: v for k, v in params.items() if k not in ("page_no",) and v}
        return page(
            "viewer_run.html",
            title=f"Run {run.key}",
            run=run,
            values=values,
            filters=filters,
            q=query,
            by=by,
            charts=_charts(comps),
            comps=comps,
            expected_rows=expected_rows,
            expected_chart=expected_chart,
            total=total,
            rows=rows,
            cols=cols,
            page_no=page_no,
            pages=max(1, -(-total // PAGE_SIZE)),
            base=base,
            headline=_headline(report),
            reports=[k for k, (name, _) in REPORT_FILES.items() if _report_file(index, run, name)],
        )

    @app.get("/row")
    def row_page(r: str, n: int) -> Any:
        run = index.get(r)
        if not 0 <= n < run.rows:
            raise HTTPException(404, "no such row")
        row = R.read_rows(run, [n])[0]
        from refusalkit.core.io import loads

        scores = {}
        if row.get("category_scores"):
            try:
                scores = dict(
                    sorted(loads(row["category_scores"]).items(), key=lambda kv: -float(kv[1] or 0))
                )
            except (ValueError, TypeError, AttributeError):
                scores = {}
        text_cols = ("prompt", "response", "system", "rationale", "raw_output", "category_scores")
        fields = [(k, v) for k, v in row.items() if k not in text_cols]
        return page(
            "viewer_row.html", title=f"Row {n}", run=run, n=n, row=row, fields=fields, scores=scores
        )

    @app.get("/report")
    def report_file(r: str, f: str = "html") -> Any:
        run = index.get(r)
        if f not in REPORT_FILES:
            raise HTTPException(404, "no such report format")
        name, media = REPORT_FILES[f]
        path = _report_file(index, run, name)
        if path is None:
            raise HTTPException(404, "this run has no such report file")
        resp = Response(path.read_bytes(), media_type=media)
        # the saved report is self-contained; still forbid scripts and sandbox it
        resp.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
        )
        return resp

    return app, len(index.runs)


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _report_file(index: RunIndex, run: R.Run, name: str) -> Path | None:
    path = run.path / name
    if path.is_file() and path.resolve().is_relative_to(index.root):
        return path
    return None


def _read_report(path: Path | None) -> Any:
    from refusalkit.core.io import loads

    try:
        if path is not None and path.stat().st_size < 20_000_000:
            return loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return None
