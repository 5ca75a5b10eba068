"""Find run folders under a results directory and query their results.parquet lazily.

Runs are read through `refusalkit.reports.results` (run.json, results path, batches);
files are never loaded whole: listing a page scans only the filter columns batch by
batch (then reads the page's rows from their row groups), and the charts aggregate
counts per batch. So a million-row run costs one streaming pass per query and a
bounded amount of memory. Anything found on disk is kept only if its real path (symlinks
resolved) stays inside the results directory.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import RefusalkitError

#: Columns offered as filters when a run has them (in this order).
FILTER_COLUMNS = (
    "model",
    "endpoint",
    "dataset",
    "probe_category",
    "expected",
    "behavior",
    "category",
    "group",
    "side",
    "source_file",
)
#: Columns listed per row in the table (when present).
LIST_COLUMNS = (
    "id",
    "model",
    "dataset",
    "probe_category",
    "behavior",
    "category",
    "prompt",
    "response",
)
SLICE_COLUMNS = ("model", "endpoint", "dataset", "source_file")
MAX_DEPTH = 4
MAX_VALUES = 1000


@dataclass(slots=True)
class Run:
    key: str  # path relative to the results root ("." for the root itself)
    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    kind: str = "?"
    rows: int = 0
    columns: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def results(self) -> Path:
        return self.path / "results.parquet"

    def filters(self) -> list[str]:
        return [c for c in FILTER_COLUMNS if c in self.columns]

    def stamp(self) -> tuple[str, float, int]:
        st = self.results.stat()
        return (self.key, st.st_mtime, st.st_size)


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except OSError:
        return False


def load_run(root: Path, folder: Path) -> Run:
    """A run folder's metadata; problems are recorded in `error` rather than raised."""
    import pyarrow.parquet as pq

    from refusalkit.reports.results import read_run_json

    key = folder.relative_to(root).as_posix() or "."
    run = Run(key=key, path=folder)
    try:
        run.info = read_run_json(folder)
        run.kind = str(run.info.get("kind", "?"))
        if not run.results.is_file() or not _inside(root, run.results):
            raise RefusalkitError("no results.parquet inside the results folder")
        meta = pq.ParquetFile(str(run.results)).metadata
        run.rows = meta.num_rows
        run.columns = list(meta.schema.to_arrow_schema().names)
    except (RefusalkitError, OSError, ValueError) as exc:  # pyarrow errors are ValueErrors/OSErrors
        run.error = str(exc).splitlines()[0]
    return run


def discover(root: str | Path) -> list[Run]:
    """Run folders (holding run.json) at or below `root`, not following symlinks."""
    base = Path(root).resolve()
    if (base / "run.json").is_file():
        return [load_run(base, base)]
    found: list[Run] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        depth = len(here.relative_to(base).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if depth >= MAX_DEPTH:
            dirnames[:] = []
        if "run.json" in filenames and here != base and _inside(base, here):
            found.append(load_run(base, here))
            dirnames[:] = []  # a run's own sub-folders are not runs
    return sorted(found, key=lambda r: r.key)


# ----------------------------------------------------------------------- querying


def _mask(batch: Any, filters: dict[str, str], query: str) -> Any:
    """Boolean mask of the rows of a batch matching every filter and the text query."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pa.array([True] * batch.num_rows)
    names = batch.schema.names
    for col, value in filters.items():
        arr = batch.column(names.index(col))
        is_none = value == "(none)"
        cond = pc.is_null(arr) if is_none else pc.equal(pc.cast(arr, pa.string()), value)
        mask = pc.and_kleene(mask, pc.fill_null(cond, False))
    if query:
        hit = pa.array([False] * batch.num_rows)
        for col in ("prompt", "response", "id"):
            if col in names:
                found = pc.match_substring(batch.column(names.index(col)), query, ignore_case=True)
                hit = pc.or_kleene(hit, pc.fill_null(found, False))
        mask = pc.and_kleene(mask, hit)
    return mask


def clean_filters(run: Run, params: dict[str, str]) -> dict[str, str]:
    return {c: params[c] for c in run.filters() if params.get(c)}


def filter_values(run: Run) -> dict[str, list[str]]:
    """Distinct values of each filter column (at most MAX_VALUES each)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from refusalkit.reports.results import iter_result_batches

    cols = run.filters()
    seen: dict[str, set[str]] = {c: set() for c in cols}
    nulls: set[str] = set()
    if not cols:
        return {}
    for batch in iter_result_batches(run.results, cols, batch_size=65536):
        for i, c in enumerate(cols):
            if len(seen[c]) >= MAX_VALUES:
                continue
            for v in pc.cast(pc.unique(batch.column(i)), pa.string()).to_pylist():
                if v is None:
                    nulls.add(c)
                else:
                    seen[c].add(v)
    return {c: sorted(seen[c]) + (["(none)"] if c in nulls else []) for c in cols}


def find_rows(
    run: Run, filters: dict[str, str], query: str, offset: int, limit: int
) -> tuple[int, list[int]]:
    """(number of matching rows, row numbers of matches offset..offset+limit)."""
    import numpy as np

    from refusalkit.reports.results import iter_result_batches

    cols = list(filters)
    if query:
        cols += [c for c in ("prompt", "response", "id") if c in run.columns and c not in cols]
    total, start = 0, 0
    picked: list[int] = []
    read = cols or ["id"]
    for batch in iter_result_batches(run.results, read, batch_size=65536):
        if cols:
            idx = _mask(batch, filters, query).to_numpy(zero_copy_only=False).nonzero()[0]
        else:
            idx = np.arange(batch.num_rows)
        m = len(idx)
        lo, hi = max(0, offset - total), min(m, offset + limit - total)
        if lo < hi:
            picked.extend(start + int(i) for i in idx[lo:hi])
        total += m
        start += batch.num_rows
    return total, picked


def read_rows(
    run: Run, numbers: list[int], columns: list[str] | None = None
) -> list[dict[str, Any]]:
    """Rows by global row number, reading only the row groups that hold them."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(str(run.results))
    try:
        bounds, acc = [], 0
        for g in range(pf.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            bounds.append((acc, acc + n))
            acc += n
        out: dict[int, dict[str, Any]] = {}
        wanted = sorted(set(numbers))
        for g, (lo, hi) in enumerate(bounds):
            local = [n - lo for n in wanted if lo <= n < hi]
            if not local:
                continue
            table = pf.read_row_group(g, columns=columns).take(local)
            for n, row in zip(local, table.to_pylist(), strict=True):
                out[n + lo] = row
    finally:
        pf.close()
    return [out[n] for n in numbers if n in out]


def slice_column(run: Run, values: dict[str, list[str]]) -> str | None:
    """The column the charts compare: the first of model/endpoint/dataset/file with > 1 value."""
    for c in SLICE_COLUMNS:
        if len([v for v in values.get(c, []) if v != "(none)"]) > 1:
            return c
    return None


VERDICT_KEYS = ("behavior", "category", "group", "unjudged_reason")


def verdict_counts(
    run: Run, filters: dict[str, str], query: str, by: str | None
) -> dict[tuple[Any, ...], int]:
    """Counts of `(behavior, category, group, unjudged_reason, slice, expected)` over the
    matching rows, aggregated per batch with Arrow's group-by (one pass, bounded memory).

    Like the audit report, a row marked `distinct == False` (a rejected-side turn equal
    to the chosen side) is not counted twice.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from refusalkit.reports.results import iter_result_batches

    extra = [c for c in (by, "expected") if c and c in run.columns]
    wanted = [c for c in VERDICT_KEYS if c in run.columns] + extra
    cols = list(
        dict.fromkeys([*wanted, *filters, *(["distinct"] if "distinct" in run.columns else [])])
    )
    if query:
        cols += [c for c in ("prompt", "response", "id") if c in run.columns and c not in cols]
    counts: Counter[tuple[Any, ...]] = Counter()
    for batch in iter_result_batches(run.results, cols, batch_size=65536):
        mask = _mask(batch, filters, query)
        if "distinct" in cols:
            mask = pc.and_kleene(mask, pc.fill_null(batch.column(cols.index("distinct")), True))
        sub = pa.Table.from_batches([batch.filter(mask)]).select(wanted)
        if sub.num_rows == 0:
            continue
        grouped = sub.group_by(wanted, use_threads=False).aggregate([([], "count_all")]).to_pydict()
        for n, *key in zip(grouped["count_all"], *(grouped[c] for c in wanted), strict=True):
            row = dict(zip(wanted, key, strict=True))
            full = tuple(row.get(c) for c in VERDICT_KEYS)
            full += (row.get(by) if by else None, row.get("expected"))
            counts[full] += n
    return dict(counts)


def _add(comp: Any, key: tuple[Any, ...], n: int) -> None:
    comp.add(key[0] or "unjudged", key[1], key[2], key[3], n=n)


def _name(value: Any) -> str:
    return "(none)" if value is None else str(value)


def compositions(counts: dict[tuple[Any, ...], int], by: str | None) -> list[tuple[str, Any]]:
    """`(slice name, Composition)`: "all" first, then one per slice value when sliced."""
    from refusalkit.reports.composition import Composition

    overall = Composition()
    comps: dict[str, Any] = {}
    for key, n in counts.items():
        _add(overall, key, n)
        if by:
            _add(comps.setdefault(_name(key[4]), Composition()), key, n)
    return [("all", overall), *sorted(comps.items())]


def expected_split(
    counts: dict[tuple[Any, ...], int], by: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """Per slice: a Composition for each `expected` value (refuse / comply), for the
    over- and under-refusal view of model audits and benchmarks."""
    from refusalkit.reports.composition import Composition

    out: dict[str, dict[str, Any]] = {}
    for key, n in counts.items():
        if key[5] is None:
            continue
        for name in ("all", *([_name(key[4])] if by else [])):
            _add(out.setdefault(name, {}).setdefault(str(key[5]), Composition()), key, n)
    return sorted(out.items(), key=lambda kv: (kv[0] != "all", kv[0]))
