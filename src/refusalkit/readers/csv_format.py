"""Streaming CSV/TSV reader: a header row, then records whose quoted fields may span lines.

Lines are split on `\\n` from UTF-8 byte chunks and fed to the `csv` module one at a
time, so each record's verbatim bytes, byte offset and first line are known; the
same walk plans shards (`csv_records` is shared with `sharding.py`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

from refusalkit.core.errors import DataError
from refusalkit.readers.records import ErrorMode, Record, Shard
from refusalkit.readers.text_formats import (
    BAD_ROW_HINT,
    ENCODING_HINT,
    byte_chunks,
    check_encoding,
    decode_problem,
)


def _lines_keepends(chunks: Iterable[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        if rest:
            chunk = rest + chunk
        parts = chunk.split(b"\n")
        rest = parts.pop()
        for p in parts:
            yield p + b"\n"
    if rest:
        yield rest


def csv_records(
    chunks: Iterable[bytes], delimiter: str, offset: int = 0, line: int = 1
) -> Iterator[tuple[list[str] | None, bytes, int, int, str | None]]:
    """(fields, raw bytes, byte offset, start line, csv error) for every CSV record.

    Blank lines come back as empty `fields`. Shared by the reader and `shard_ranges`,
    so both agree on where records start.
    """
    captured: list[bytes] = []

    def feed() -> Iterator[str]:
        for raw in _lines_keepends(chunks):
            captured.append(raw)
            yield raw.decode("utf-8", "surrogateescape")

    reader = csv.reader(feed(), delimiter=delimiter)
    while True:
        problem = None
        try:
            fields: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            fields, problem = None, f"malformed CSV ({exc})"
        raw = b"".join(captured)
        captured.clear()
        yield fields, raw, offset, line, problem
        offset += len(raw)
        line += raw.count(b"\n")


def raise_csv_limit() -> None:
    """Model completions can exceed csv's default 128 KiB field limit."""
    if csv.field_size_limit() < (1 << 30):
        csv.field_size_limit(1 << 30)


def read_csv_header(
    path: str | Path, file: str, delimiter: str, enc: str
) -> tuple[list[str] | None, int, int]:
    """Header fields, byte offset and line number just after the header."""
    for fields, raw, offset, line, problem in csv_records(byte_chunks(path, enc), delimiter):
        if problem is not None or (fields and decode_problem(raw, enc)):
            raise DataError(
                problem or decode_problem(raw, enc) or "unreadable header",
                file=file,
                line=line,
                hint=ENCODING_HINT if problem is None else "fix the header row",
            )
        if fields:
            return fields, offset + len(raw), line + raw.count(b"\n")
    return None, 0, 1


def iter_csv(
    path: str | Path,
    file: str,
    *,
    delimiter: str = ",",
    shard: Shard | None = None,
    encoding: str | None = None,
    errors: ErrorMode = "raise",
) -> Iterator[Record]:
    """A header row, then one record per row; quoted fields may span lines."""
    raise_csv_limit()
    enc = check_encoding(encoding, file)
    header: list[str] | None = None
    start, line, row, stop = 0, 1, 0, None
    if shard is not None and shard.start > 0:
        header, _, _ = read_csv_header(path, file, delimiter, enc)
        start, line, row, stop = shard.start, shard.line or 1, shard.row, shard.stop
    elif shard is not None:
        stop = shard.stop
    width = len(header) if header else 0
    for fields, raw, _off, rec_line, problem in csv_records(
        byte_chunks(path, enc, start, stop), delimiter, start, line
    ):
        if fields is not None and not fields:
            continue
        if header is None:
            bad = problem or decode_problem(raw, enc)
            if bad:
                raise DataError(bad, file=file, line=rec_line, hint="fix the header row")
            header, width = fields, len(fields)  # type: ignore[arg-type]
            continue
        text = raw.rstrip(b"\r\n")
        hint = BAD_ROW_HINT
        if problem is None and not raw.isascii():
            problem = decode_problem(raw, enc)
            hint = ENCODING_HINT
        if problem is None and fields is not None and len(fields) != width:
            problem = f"row has {len(fields)} fields but the header has {width}"
            hint = BAD_ROW_HINT
        if problem is not None:
            err = DataError(problem, file=file, line=rec_line, found_fields=header, hint=hint)
            if errors == "raise":
                raise err
            yield Record(None, row, rec_line, file, text, err)
        else:
            yield Record(dict(zip(header, fields, strict=False)), row, rec_line, file, text)  # type: ignore[arg-type]
        row += 1
