"""Records, shards and format detection: the layer below shapes.

A *record* is one row of a dataset as a plain dict, plus where it came from (0-based
`row`, 1-based physical `line` where it starts, `file`) and its verbatim bytes (so
`--skip-bad` can set it aside unchanged). Readers for each format live in
`text_formats.py` (JSONL), `json_format.py`, `csv_format.py` and `arrow_formats.py`
(Parquet, Arrow, HF `save_to_disk`); `iter_records` dispatches to them. Nothing here imports pyarrow at
module level, so `import refusalkit.readers` stays light.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from refusalkit.core.errors import DataError

#: Every format `iter_records` understands (`json` = a top-level array, or an object
#: holding one array of records; `hf_disk` = a Hugging Face `save_to_disk` folder).
FORMATS: tuple[str, ...] = ("jsonl", "json", "csv", "tsv", "parquet", "arrow", "hf_disk")

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
}
_GZIP_MAGIC = b"\x1f\x8b"
ErrorMode = Literal["raise", "yield"]


@dataclass(slots=True)
class Record:
    """One dataset row before shape conversion.

    `data` is None only when `error` is set (a row that could not be parsed, yielded
    instead of raised when `iter_records(..., errors="yield")`). `raw` holds the row's
    verbatim text (bytes for JSON formats, str for CSV) or None for columnar formats.
    """

    data: dict[str, Any] | None
    row: int
    line: int | None
    file: str
    raw: bytes | str | None = None
    error: DataError | None = None
    split: str | None = None


@dataclass(frozen=True, slots=True)
class Shard:
    """A contiguous, independently readable part of one input (see `shard_ranges`).

    For JSONL/CSV `start`/`stop` are byte offsets aligned to record starts; for
    Parquet they are row-group indices; for HF folders data-file indices within
    `split`. `row`/`line` are the position of the shard's first record in the whole
    file, so a sharded read reports the same rows, lines and ids as a full read.
    `stop=None` means "to the end".
    """

    path: str
    format: str
    start: int = 0
    stop: int | None = None
    row: int = 0
    line: int | None = 1
    split: str | None = None

    @property
    def is_whole(self) -> bool:
        return self.start == 0 and self.stop is None


def is_gzip(path: str | Path) -> bool:
    """Gzip by extension or by magic bytes (a `.jsonl` that is really gzipped still reads)."""
    p = Path(path)
    if p.suffix.lower() == ".gz":
        return True
    if p.is_file():
        with open(p, "rb") as fh:
            return fh.read(2) == _GZIP_MAGIC
    return False


def strip_compression(name: str) -> str:
    return name[:-3] if name.lower().endswith(".gz") else name


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """Format of `path`: the override, a folder's HF layout, or the file extension.

    `.json` files are sniffed: a first line that is a whole JSON object means JSONL.
    """
    p = Path(path)
    if fmt is not None:
        if fmt not in FORMATS:
            raise DataError(
                f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}",
                file=str(path),
                hint="pass --format with one of the listed formats",
            )
        return fmt
    if not p.exists():
        raise DataError("no such file or folder", file=str(path), hint="check the path")
    if p.is_dir():
        if (p / "dataset_dict.json").is_file() or (p / "state.json").is_file():
            return "hf_disk"
        raise DataError(
            "this folder is not a Hugging Face `save_to_disk` dataset "
            "(no dataset_dict.json or state.json)",
            file=str(path),
            found_fields=sorted(c.name for c in p.iterdir())[:30],
            hint="pass the data files themselves (e.g. `folder/*.jsonl`)",
        )
    suffix = Path(strip_compression(p.name)).suffix.lower()
    found = _EXTENSIONS.get(suffix)
    if found is None:
        raise DataError(
            f"cannot tell the format from the extension {suffix or '(none)'!r}",
            file=str(path),
            hint=f"pass --format ({', '.join(f for f in FORMATS if f != 'hf_disk')})",
        )
    if found == "json":
        return sniff_json(p)
    return found


def open_binary(path: str | Path, gz: bool | None = None) -> BinaryIO:
    """Open for binary reading, transparently decompressing gzip."""
    if gz is None:
        gz = is_gzip(path)
    if gz:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def sniff_json(path: Path) -> str:
    """`jsonl` when the first non-blank line is one complete JSON object, else `json`."""
    import orjson

    with open_binary(path) as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head.startswith(b"{"):
            return "json"
        fh.seek(0)
        while True:
            line = fh.readline(16 << 20)
            if not line:
                return "json"
            if line.strip(b"\xef\xbb\xbf \t\r\n"):
                break
        # one long line hitting the cap without a newline: a single document, not JSONL
        if not line.endswith(b"\n") and fh.read(1):
            return "json"
        try:
            return (
                "jsonl" if isinstance(orjson.loads(line.lstrip(b"\xef\xbb\xbf")), dict) else "json"
            )
        except orjson.JSONDecodeError:
            return "json"


def display_name(path: str | Path) -> str:
    return os.fspath(path)


def iter_records(
    path: str | Path | Shard,
    *,
    split: str | None = None,
    shard: Shard | None = None,
    format: str | None = None,
    encoding: str | None = None,
    errors: ErrorMode = "raise",
) -> Iterator[Record]:
    """Stream the records of one file, folder or shard, in file order.

    `errors="raise"` raises `DataError` at the first unreadable row; `errors="yield"`
    yields it as a `Record` with `error` set and keeps going where the format allows
    (a structurally broken JSON array ends the file with one final error record).
    `encoding` names the text encoding (default UTF-8, BOM tolerated).
    """
    if isinstance(path, Shard):
        shard, path = path, path.path
    fmt = shard.format if shard is not None else detect_format(path, format)
    file = display_name(path)
    if fmt == "jsonl":
        from refusalkit.readers.text_formats import iter_jsonl

        return iter_jsonl(path, file, shard=shard, encoding=encoding, errors=errors)
    if fmt == "json":
        from refusalkit.readers.json_format import iter_json

        return iter_json(path, file, encoding=encoding, errors=errors)
    if fmt in ("csv", "tsv"):
        from refusalkit.readers.csv_format import iter_csv

        delimiter = "\t" if fmt == "tsv" else ","
        return iter_csv(
            path, file, delimiter=delimiter, shard=shard, encoding=encoding, errors=errors
        )
    from refusalkit.readers import arrow_formats as af

    if fmt == "parquet":
        return af.iter_parquet(path, file, shard=shard)
    if fmt == "arrow":
        return af.iter_arrow_file(path, file)
    return af.iter_hf_disk(path, file, split=shard.split if shard else split, shard=shard)
