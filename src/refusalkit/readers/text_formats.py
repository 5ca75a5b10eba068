"""Text input plumbing (chunks, encodings, error messages) and the JSONL reader.

JSONL, JSON and CSV all read the file as UTF-8 byte chunks (1 MiB), so memory stays constant however
large the file is, and physical line numbers are tracked exactly for error messages.
Other encodings are transcoded to UTF-8 on the fly (`encoding=`); bytes that are not
valid in the encoding survive as invalid UTF-8 and are reported per row, never replaced.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from refusalkit.core.errors import DataError
from refusalkit.readers.records import ErrorMode, Record, Shard, open_binary

CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
ENCODING_HINT = (
    "pass --encoding with the file's real encoding (e.g. --encoding latin-1), "
    "or --skip-bad to set such rows aside"
)
BAD_ROW_HINT = "fix the row, or pass --skip-bad to set bad rows aside in a side file"


def check_encoding(encoding: str | None, file: str) -> str:
    """Normalised codec name; `utf-8` when not given."""
    if encoding is None:
        return "utf-8"
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise DataError(
            f"unknown text encoding {encoding!r}",
            file=file,
            hint="pass --encoding with a Python codec name such as utf-8, latin-1 or cp1252",
        ) from None
    return "utf-8" if name == "utf-8-sig" else name


def byte_chunks(
    path: str | Path, encoding: str, start: int = 0, stop: int | None = None
) -> Iterator[bytes]:
    """UTF-8 chunks of `path[start:stop]` (decompressed, BOM removed, transcoded)."""
    with open_binary(path) as fh:
        if start:
            fh.seek(start)
        remaining = None if stop is None else stop - start
        decoder = None
        if encoding != "utf-8":
            decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        first = start == 0
        while True:
            n = CHUNK if remaining is None else min(CHUNK, remaining)
            block = fh.read(n) if n > 0 else b""
            if not block:
                break
            if remaining is not None:
                remaining -= len(block)
            if decoder is not None:
                text = decoder.decode(block)
                if first and text.startswith("\ufeff"):
                    text = text[1:]
                block = text.encode("utf-8", "surrogateescape")
            elif first and block.startswith(_BOM):
                block = block[3:]
            first = False
            yield block
        if decoder is not None:
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail.encode("utf-8", "surrogateescape")


def decode_problem(raw: bytes, encoding: str) -> str | None:
    """Describe the first byte that is not valid text, or None when `raw` is clean."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start]
        line = raw.count(b"\n", 0, exc.start)
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        where = f"column {col}" if line == 0 else f"line +{line} column {col}"
        return f"byte 0x{bad:02x} at {where} is not valid {encoding} text"
    return None


def json_error(exc: Exception, raw: bytes, *, file: str, line: int, encoding: str) -> DataError:
    problem = decode_problem(raw, encoding)
    if problem is not None:
        return DataError(problem, file=file, line=line, hint=ENCODING_HINT)
    lineno = getattr(exc, "lineno", 1) or 1
    col = getattr(exc, "colno", None)
    msg = getattr(exc, "msg", str(exc))
    at = f" at line {line + lineno - 1}" + (f", column {col}" if col else "")
    return DataError(f"malformed JSON ({msg}{at})", file=file, line=line, hint=BAD_ROW_HINT)


def not_object(data: object, *, file: str, line: int) -> DataError:
    return DataError(
        f"record is a JSON {type(data).__name__}, not an object with named fields",
        file=file,
        line=line,
        hint=BAD_ROW_HINT,
    )


# ---------------------------------------------------------------------------- JSONL


def json_record(raw: bytes, row: int, line: int, file: str, enc: str, errors: ErrorMode) -> Record:
    """Parse one JSON object (a JSONL line or a JSON array element) into a Record: with
    the data, or with the error naming file and line (raised when `errors` is "raise")."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        err = json_error(exc, raw, file=file, line=line, encoding=enc)
        if errors == "raise":
            raise err from None
        return Record(None, row, line, file, raw, err)
    if type(data) is not dict:
        err = not_object(data, file=file, line=line)
        if errors == "raise":
            raise err
        return Record(None, row, line, file, raw, err)
    return Record(data, row, line, file, raw)


def _split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        if rest:
            chunk = rest + chunk
        lines = chunk.split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def iter_jsonl(
    path: str | Path,
    file: str,
    *,
    shard: Shard | None = None,
    encoding: str | None = None,
    errors: ErrorMode = "raise",
) -> Iterator[Record]:
    """One JSON object per line; blank lines are skipped (and occupy no row number)."""
    enc = check_encoding(encoding, file)
    start, stop = (shard.start, shard.stop) if shard else (0, None)
    row = shard.row if shard else 0
    line = (shard.line or 1) - 1 if shard else 0
    for raw in _split_lines(byte_chunks(path, enc, start, stop)):
        line += 1
        if not raw or raw.isspace():  # blank lines are not rows
            continue
        yield json_record(raw, row, line, file, enc, errors)
        row += 1
