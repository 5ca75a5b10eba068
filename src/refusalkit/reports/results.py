"""Run folders: the per-row results schema, its streaming Parquet writer and reader, `run.json`.

Every command that judges many exchanges (dataset audits, model audits, benchmarks)
writes a run folder (see docs/ARCHITECTURE.md, "Run folders") that later commands read
back without re-classifying: `refusalkit report`, `diff`, re-scoring, `serve`.

`results.parquet` always starts with the same identity and verdict columns
(`BASE_COLUMNS`), followed by the run kind's own columns (`dataset`, `prompt`,
`response`, `model`, `expected`, ...) declared as `{name: type}` with the type names in
`TYPES`. The writer buffers rows column-wise and writes a row group every
`row_group_rows` rows or `row_group_bytes` of text, so memory stays constant however many
rows a run produces; it writes to a temporary name and renames on `close()`, so a run
killed half-way never leaves a truncated file under the final name.

pyarrow is imported inside functions (light core import rule).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.core.io import atomic_write, dumps, dumps_pretty, loads
from refusalkit.core.models import Exchange, Verdict

RUN_JSON = "run.json"
RESULTS = "results.parquet"
#: Version of the results layout; bump when a column changes meaning.
SCHEMA_VERSION = 1
#: Parquet key-value metadata key holding `{"schema_version", "kind", ...}`.
META_KEY = b"refusalkit"

#: Column types by name (kept as strings so this module imports without pyarrow).
TYPES = ("string", "int64", "int32", "float64", "bool")

#: Identity and verdict columns present in every results file, in this order.
BASE_COLUMNS: dict[str, str] = {
    "id": "string",
    "source_file": "string",
    "row": "int64",
    "line": "int64",
    "turn": "int32",
    "side": "string",
    "behavior": "string",
    "refusal_score": "float64",
    "category": "string",
    "group": "string",
    "category_scores": "string",  # JSON text: {category: score}
    "detector": "string",
    "detector_version": "string",
    "unjudged_reason": "string",
    "rationale": "string",
}

#: Run kinds -> "module:function(run_dir) -> dict of written paths" that re-render the
#: report of a saved run (used by `refusalkit report`). Capabilities add their kind here.
RENDERERS: dict[str, str] = {
    "audit-data": "refusalkit.audit.report:rerender",
    "audit-model": "refusalkit.modelaudit.run:rerender",
    "bench": "refusalkit.bench.report:rerender",
}


def _pa_type(name: str) -> Any:
    import pyarrow as pa

    try:
        return {
            "string": pa.string(),
            "int64": pa.int64(),
            "int32": pa.int32(),
            "float64": pa.float64(),
            "bool": pa.bool_(),
        }[name]
    except KeyError:
        raise ValueError(f"unknown column type {name!r}; use one of {TYPES}") from None


def columns_of(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """All columns (base first, then `extra`) as {name: type name}."""
    cols = dict(BASE_COLUMNS)
    for name, kind in (extra or {}).items():
        if name in cols and cols[name] != kind:
            raise ValueError(f"column {name!r} is a base column of type {cols[name]}")
        if kind not in TYPES:
            raise ValueError(f"unknown column type {kind!r} for {name!r}; use one of {TYPES}")
        cols[name] = kind
    return cols


def results_schema(
    extra: Mapping[str, str] | None = None, meta: Mapping[str, Any] | None = None
) -> Any:
    """The pyarrow schema of a results file with `extra` run-specific columns."""
    import pyarrow as pa

    fields = [pa.field(n, _pa_type(t)) for n, t in columns_of(extra).items()]
    info = {"schema_version": SCHEMA_VERSION, **(meta or {})}
    return pa.schema(fields, metadata={META_KEY: dumps(info)})


# ------------------------------------------------------------------------------ rows


def identity_columns(ex: Exchange) -> dict[str, Any]:
    src = ex.source
    return {
        "id": ex.id,
        "source_file": src.file,
        "row": src.row,
        "line": src.line,
        "turn": src.turn,
        "side": src.side,
    }


def verdict_columns(v: Verdict) -> dict[str, Any]:
    return {
        "behavior": v.behavior.value,
        "refusal_score": v.refusal_score,
        "category": v.category,
        "group": v.group.value,
        "category_scores": dumps(v.category_scores).decode() if v.category_scores else None,
        "detector": v.detector,
        "detector_version": v.detector_version,
        "unjudged_reason": v.unjudged_reason,
        "rationale": v.rationale,
    }


def result_row(ex: Exchange, v: Verdict, **extra: Any) -> dict[str, Any]:
    """One results row: the exchange's identity, the verdict, then run-specific values."""
    row = identity_columns(ex)
    row.update(verdict_columns(v))
    row.update(extra)
    return row


def verdict_from_row(row: Mapping[str, Any]) -> Verdict:
    """Rebuild the Verdict stored in a results row (for re-scoring and viewers)."""
    scores = row.get("category_scores")
    data = dict(row)
    data["category_scores"] = loads(scores) if scores else {}
    return Verdict.from_dict(data)


# ---------------------------------------------------------------------------- writer


class ResultsWriter:
    """Stream rows into a Parquet results file, one row group at a time.

    Rows are dicts; a missing key is null, an unknown key is an error (it would be lost
    silently otherwise). Memory is bounded by one row group: `row_group_rows` rows or
    about `row_group_bytes` of string data, whichever comes first.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        extra_columns: Mapping[str, str] | None = None,
        *,
        meta: Mapping[str, Any] | None = None,
        row_group_rows: int = 20_000,
        row_group_bytes: int = 32 << 20,
        compression: str = "zstd",
    ) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns = columns_of(extra_columns)
        self.schema = results_schema(extra_columns, meta)
        self._names = list(self.columns)
        self._nameset = frozenset(self._names)
        self._rows: list[Mapping[str, Any]] = []
        self._bytes = 0
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.count = 0
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._writer = pq.ParquetWriter(str(self._tmp), self.schema, compression=compression)

    def write(self, row: Mapping[str, Any]) -> None:
        if row.keys() - self._nameset:
            unknown = sorted(row.keys() - self._nameset)
            raise KeyError(f"column {unknown[0]!r} is not in this results schema")
        self._rows.append(row)
        for v in row.values():
            if type(v) is str:
                self._bytes += len(v)
        self.count += 1
        if len(self._rows) >= self.row_group_rows or self._bytes >= self.row_group_bytes:
            self.flush()

    def write_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def flush(self) -> None:
        """Write the buffered rows as one row group (columns built in bulk)."""
        import pyarrow as pa

        rows = self._rows
        if not rows:
            return
        arrays = [
            pa.array([r.get(n) for r in rows], type=self.schema.field(n).type) for n in self._names
        ]
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self._rows = []
        self._bytes = 0

    def close(self) -> Path:
        """Write the last row group and move the file into place."""
        self.flush()
        self._writer.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Discard everything written (the final path is left untouched)."""
        try:
            self._writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def concat_results(parts: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> int:
    """Concatenate results files with the same schema into `out`, row group by row group.

    Memory is one row group. The output appears atomically; returns its row count.
    """
    import pyarrow.parquet as pq

    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer = None
    n = 0
    try:
        for part in parts:
            pf = pq.ParquetFile(str(part))
            if writer is None:
                writer = pq.ParquetWriter(str(tmp), pf.schema_arrow, compression="zstd")
            for i in range(pf.num_row_groups):
                table = pf.read_row_group(i)
                writer.write_table(table)
                n += table.num_rows
            pf.close()
        if writer is None:
            raise ValueError("no results parts to concatenate")
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return n


# ---------------------------------------------------------------------------- reader


def results_path(run_dir: str | os.PathLike[str]) -> Path:
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        raise ConfigError(
            f"{run_dir} holds no {RESULTS}",
            hint="pass a run folder written by `refusalkit audit data` (or another run command)",
        )
    return path


def results_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `refusalkit` key-value metadata of a results file."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(str(path)).metadata or {}
    raw = meta.get(META_KEY)
    return loads(raw) if raw else {}


def iter_result_batches(
    path: str | os.PathLike[str], columns: Sequence[str] | None = None, batch_size: int = 8192
) -> Iterator[Any]:
    """pyarrow RecordBatches of a results file, in file order (bounded memory)."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(str(path))
    try:
        yield from pf.iter_batches(
            batch_size=batch_size, columns=list(columns) if columns else None
        )
    finally:
        pf.close()


def iter_results(
    path: str | os.PathLike[str], columns: Sequence[str] | None = None, batch_size: int = 8192
) -> Iterator[dict[str, Any]]:
    """Rows of a results file as dicts, in file order (bounded memory)."""
    for batch in iter_result_batches(path, columns, batch_size):
        yield from batch.to_pylist()


def read_results(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> Any:
    """The whole results file as a pyarrow Table (for small runs, tests and viewers)."""
    import pyarrow.parquet as pq

    return pq.read_table(str(path), columns=list(columns) if columns else None)


# --------------------------------------------------------------------------- run.json


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def input_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Path, size and mtime of an input (summed over a folder's files), to detect changes."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
        size = sum(f.stat().st_size for f in files)
        mtime = max((f.stat().st_mtime for f in files), default=p.stat().st_mtime)
        return {"path": os.fspath(path), "size": size, "mtime": round(mtime, 3), "folder": True}
    st = p.stat()
    return {"path": os.fspath(path), "size": st.st_size, "mtime": round(st.st_mtime, 3)}


def new_run_info(kind: str, **fields: Any) -> dict[str, Any]:
    """The common head of every `run.json`: kind, refusalkit version, creation time."""
    from refusalkit._version import __version__

    return {"kind": kind, "refusalkit_version": __version__, "created": utc_now(), **fields}


def write_run_json(run_dir: str | os.PathLike[str], info: Mapping[str, Any]) -> Path:
    path = Path(run_dir) / RUN_JSON
    atomic_write(path, dumps_pretty(dict(info)) + "\n")
    return path


def read_run_json(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(run_dir) / RUN_JSON
    if not path.is_file():
        raise ConfigError(
            f"{run_dir} is not a run folder (no {RUN_JSON})",
            hint="pass a folder written by `refusalkit audit data -o DIR` (or another run command)",
        )
    try:
        info = loads(path.read_bytes())
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc})", hint="rerun the command") from None
    if not isinstance(info, dict) or "kind" not in info:
        raise ConfigError(f"{path} has no `kind`", hint="rerun the command that wrote it")
    return info


def rerender(run_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Re-render a saved run's report with the renderer registered for its kind."""
    import importlib

    kind = read_run_json(run_dir)["kind"]
    target = RENDERERS.get(kind)
    if target is None:
        raise ConfigError(
            f"no report renderer for run kind {kind!r}",
            hint=f"known kinds: {', '.join(sorted(RENDERERS))}",
        )
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)(run_dir)
