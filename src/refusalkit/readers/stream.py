"""`read_exchanges`: files in, Exchanges out, with counts and a side file for bad rows.

This is the one entry point every capability uses to read user datasets. It detects
the format and shape per file, converts rows lazily (constant memory), and keeps
`ExchangeStream.stats` up to date while iterating, so a caller can report rows,
exchanges, turns per side and rejected rows after a single pass.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import DataError
from refusalkit.core.io import JsonlWriter
from refusalkit.core.models import Exchange
from refusalkit.readers.convert import Converter, build_converter
from refusalkit.readers.records import (
    Record,
    Shard,
    detect_format,
    is_gzip,
    iter_records,
    strip_compression,
)
from refusalkit.readers.shapes import (
    PREFERENCE_SHAPES,
    check_fields,
    check_shape,
    detect_shape,
    resolve_fields,
)

Input = str | os.PathLike[str] | Shard


@dataclass
class FileStats:
    """Counts for one input file (or one split of a Hugging Face DatasetDict)."""

    file: str
    format: str
    gzip: bool = False
    split: str | None = None
    shape: str | None = None
    fields: dict[str, str | None] = field(default_factory=dict)
    rows: int = 0
    exchanges: int = 0
    assistant_turns: int = 0
    empty_responses: int = 0
    rejected: int = 0
    rows_without_exchanges: int = 0
    #: exchanges per preference side, the final turns among them, and those whose
    #: conversation differs from the other side (count each of these once per side)
    by_side: dict[str, int] = field(default_factory=dict)
    final_by_side: dict[str, int] = field(default_factory=dict)
    differing_by_side: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TOTALS = (
    "rows",
    "exchanges",
    "assistant_turns",
    "empty_responses",
    "rejected",
    "rows_without_exchanges",
)


@dataclass
class ReadStats:
    """Totals over all inputs; per-file detail in `files` (keyed by file name)."""

    files: dict[str, FileStats] = field(default_factory=dict)
    rejects_path: str | None = None
    truncated: bool = False
    finished: bool = False

    def _sum(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files.values())

    def _sum_map(self, name: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files.values():
            for k, v in getattr(f, name).items():
                out[k] = out.get(k, 0) + v
        return out

    @property
    def rows(self) -> int:
        return self._sum("rows")

    @property
    def exchanges(self) -> int:
        return self._sum("exchanges")

    @property
    def assistant_turns(self) -> int:
        return self._sum("assistant_turns")

    @property
    def empty_responses(self) -> int:
        return self._sum("empty_responses")

    @property
    def rejected(self) -> int:
        return self._sum("rejected")

    @property
    def rows_without_exchanges(self) -> int:
        return self._sum("rows_without_exchanges")

    @property
    def by_side(self) -> dict[str, int]:
        return self._sum_map("by_side")

    @property
    def shapes(self) -> dict[str, str | None]:
        return {name: f.shape for name, f in self.files.items()}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _TOTALS}
        out["by_side"] = self.by_side
        out["final_by_side"] = self._sum_map("final_by_side")
        out["differing_by_side"] = self._sum_map("differing_by_side")
        out["rejects_path"] = self.rejects_path
        out["truncated"] = self.truncated
        out["files"] = [f.to_dict() for f in self.files.values()]
        return out


def file_stem(file: str, split: str | None = None) -> str:
    """Id prefix for rows without an id: `data.jsonl.gz` → `data`, HF split → `name/split`."""
    p = Path(file)
    if split is not None:
        return f"{p.parent.name}/{split}"
    name = strip_compression(p.name)
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and len(ext) <= 8 else name


def default_rejects_path(first_input: Input) -> Path:
    """`<first input stem>.rejects.jsonl` in the current directory."""
    path = first_input.path if isinstance(first_input, Shard) else os.fspath(first_input)
    return Path.cwd() / f"{file_stem(str(path).rstrip('/'))}.rejects.jsonl"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


class ExchangeStream(Iterator[Exchange]):
    """Iterator of Exchanges over one or more inputs; `.stats` fills in as it goes.

    Use as a context manager (or call `close()`) when you may stop early, so the
    rejects side file is flushed and closed.
    """

    def __init__(
        self,
        inputs: Sequence[Input],
        *,
        shape: str | None = None,
        fields: Mapping[str, str] | None = None,
        skip_bad: bool = False,
        rejects_path: str | os.PathLike[str] | None = None,
        split: str | None = None,
        limit: int | None = None,
        encoding: str | None = None,
        format: str | None = None,
    ) -> None:
        self.shape = check_shape(shape)
        self.fields = check_fields(fields)
        self.skip_bad = skip_bad
        self.split = split
        self.limit = limit
        self.encoding = encoding
        self.format = format
        self.inputs = list(inputs)
        self.rejects_path = Path(rejects_path) if rejects_path else None
        if skip_bad and self.rejects_path is None and self.inputs:
            self.rejects_path = default_rejects_path(self.inputs[0])
        self.stats = ReadStats()
        self._writer: JsonlWriter | None = None
        self._gen: Iterator[Exchange] | None = None

    def __iter__(self) -> ExchangeStream:
        return self

    def __next__(self) -> Exchange:
        if self._gen is None:
            self._gen = self._run()
        return next(self._gen)

    def __enter__(self) -> ExchangeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._gen is not None:
            self._gen.close()  # type: ignore[attr-defined]
        self._close_writer()

    def drain(self) -> ReadStats:
        """Read everything without keeping the exchanges (for counting)."""
        for _ in self:
            pass
        return self.stats

    # ------------------------------------------------------------------ internals

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def _reject(self, rec: Record, err: DataError, fs: FileStats) -> None:
        fs.rejected += 1
        if self._writer is None:
            assert self.rejects_path is not None
            self._writer = JsonlWriter(self.rejects_path)
            self.stats.rejects_path = str(self.rejects_path)
        entry: dict[str, Any] = {
            "file": rec.file,
            "line": rec.line,
            "row": rec.row,
            "field": err.field,
            "reason": err.reason,
        }
        raw = rec.raw
        if raw is None:
            entry["record"] = _json_safe(rec.data)
        elif isinstance(raw, str):
            entry["raw"] = raw
        else:
            try:
                entry["raw"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                entry["raw"] = raw.decode("utf-8", "backslashreplace")
                entry["raw_base64"] = base64.b64encode(raw).decode("ascii")
        self._writer.write(entry)

    def _first_good(self, shard: Shard) -> Record | None:
        whole = Shard(shard.path, shard.format, split=shard.split)
        for rec in iter_records(whole, encoding=self.encoding, errors="yield"):
            if rec.error is None:
                return rec
        return None

    def _converter(self, rec: Record, fs: FileStats) -> Converter:
        data: dict[str, Any] = rec.data  # type: ignore[assignment]
        row = rec.row if rec.line is None else None
        shape = self.shape or detect_shape(
            data, file=rec.file, fields=self.fields, line=rec.line, row=row
        )
        plan = resolve_fields(shape, data, self.fields, file=rec.file, line=rec.line, row=row)
        fs.shape, fs.fields = shape, plan
        return build_converter(shape, plan, file_stem(rec.file, rec.split))

    def _run(self) -> Iterator[Exchange]:
        remaining = self.limit
        try:
            for item in self.inputs:
                shard = item if isinstance(item, Shard) else None
                path = shard.path if shard else os.fspath(item)  # type: ignore[arg-type]
                fmt = shard.format if shard else detect_format(path, self.format)
                gz = fmt != "hf_disk" and is_gzip(path)
                if fmt != "hf_disk":  # listed even when it holds no rows
                    name = os.fspath(path)
                    self.stats.files.setdefault(name, FileStats(name, fmt, gz))
                records = iter_records(
                    shard or path,
                    split=self.split,
                    format=fmt,
                    encoding=self.encoding,
                    errors="yield" if self.skip_bad else "raise",
                )
                current: str | None = None
                fs: FileStats = None  # type: ignore[assignment]
                conv: Converter | None = None
                for rec in records:
                    if rec.file != current:
                        current, conv = rec.file, None
                        fs = self.stats.files.get(rec.file) or FileStats(
                            rec.file, fmt, gz, rec.split
                        )
                        self.stats.files[rec.file] = fs
                        if shard is not None and not shard.is_whole:
                            first = self._first_good(shard)
                            if first is not None:
                                conv = self._converter(first, fs)
                    fs.rows += 1
                    if rec.error is not None:
                        self._reject(rec, rec.error, fs)
                        continue
                    if conv is None:
                        conv = self._converter(rec, fs)
                    try:
                        exs = conv(rec)
                    except DataError as err:
                        if not self.skip_bad:
                            raise
                        self._reject(rec, err, fs)
                        continue
                    if not exs:
                        fs.rows_without_exchanges += 1
                        continue
                    if remaining is not None:
                        exs = exs[:remaining]
                        remaining -= len(exs)
                    n = len(exs)
                    fs.exchanges += n
                    if fs.shape != "prompt_only":
                        fs.assistant_turns += n
                        for ex in exs:
                            if not ex.response:
                                fs.empty_responses += 1
                        if fs.shape in PREFERENCE_SHAPES:
                            self._count_sides(exs, fs)
                    yield from exs
                    if remaining is not None and remaining <= 0:
                        self.stats.truncated = True
                        return
            self.stats.finished = True
        finally:
            self._close_writer()

    @staticmethod
    def _count_sides(exs: list[Exchange], fs: FileStats) -> None:
        for ex in exs:
            side = ex.source.side or "?"
            fs.by_side[side] = fs.by_side.get(side, 0) + 1
            md = ex.metadata
            if md.get("_turn_final"):
                fs.final_by_side[side] = fs.final_by_side.get(side, 0) + 1
            if not md.get("_same_across_sides"):
                fs.differing_by_side[side] = fs.differing_by_side.get(side, 0) + 1


def read_exchanges(
    paths: Input | Sequence[Input],
    *,
    shape: str | None = None,
    fields: Mapping[str, str] | None = None,
    skip_bad: bool = False,
    rejects_path: str | os.PathLike[str] | None = None,
    split: str | None = None,
    limit: int | None = None,
    encoding: str | None = None,
    format: str | None = None,
) -> ExchangeStream:
    """Stream Exchanges from files, HF folders or shards (see docs/readers.md).

    `shape`/`fields` override detection (`fields={"prompt": "question", ...}`);
    `skip_bad` sets unreadable rows aside in `rejects_path` (default
    `./<first input stem>.rejects.jsonl`, created only when a row is rejected) instead
    of raising `DataError`; `limit` caps the number of exchanges yielded.
    """
    if isinstance(paths, str | os.PathLike | Shard):
        inputs: list[Input] = [paths]
    else:
        inputs = list(paths)
    return ExchangeStream(
        inputs,
        shape=shape,
        fields=fields,
        skip_bad=skip_bad,
        rejects_path=rejects_path,
        split=split,
        limit=limit,
        encoding=encoding,
        format=format,
    )
