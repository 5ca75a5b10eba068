"""Streaming JSON reader: a top-level array of records, or an object holding one.

Record boundaries are found without parsing (a possessive regex matches a whole
object, with a string-aware token loop as fallback); each record is then parsed by
orjson. The buffer only ever holds the current records, never the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson

from refusalkit.core.errors import DataError
from refusalkit.readers.records import ErrorMode, Record
from refusalkit.readers.text_formats import (
    BAD_ROW_HINT,
    byte_chunks,
    check_encoding,
    json_record,
)

#: Largest single JSON-array element accepted before declaring the file broken.
MAX_RECORD_BYTES = 512 << 20
_COMPACT_AT = 1 << 20

_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|"|[\[\]{}]', re.S)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_SCALAR_END = re.compile(rb"[,\]}\s]")
# A whole object nested at most three deep, matched in one C call (possessive, so a
# failed match costs one linear scan); anything else falls back to the token loop.
_STR = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_FLAT = rb'(?:[^{}\[\]"]++|' + _STR + rb")*+"
_NEST1 = rb"[\[{]" + _FLAT + rb"[\]}]"
_NEST2 = rb'[\[{](?:[^{}\[\]"]++|' + _STR + rb"|" + _NEST1 + rb")*+[\]}]"
_OBJECT = re.compile(rb'\{(?:[^{}\[\]"]++|' + _STR + rb"|" + _NEST2 + rb")*+\}", re.S)
_NON_WS = re.compile(rb"[^ \t\r\n]")
_CANDIDATE_END = re.compile(rb"\}[ \t\r\n]*[,\]]")


class _Truncated(Exception):
    """The file ended inside a JSON value."""


class _Scanner:
    """Finds JSON value boundaries in a growing byte buffer without parsing values.

    Strings are skipped by one regex match each, so scanning runs at C speed; each
    element is then parsed by orjson. The buffer is compacted between elements only,
    so indices held while scanning one element stay valid.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self._line_pos = 0
        self._line_no = 1

    def fill(self) -> bool:
        if self.eof:
            return False
        for chunk in self._chunks:
            self.buf += chunk
            return True
        self.eof = True
        return False

    def compact(self) -> None:
        if self.pos > _COMPACT_AT:
            self.line_at(self.pos)
            del self.buf[: self.pos]
            self._line_pos = 0
            self.pos = 0

    def line_at(self, p: int) -> int:
        self._line_no += self.buf.count(b"\n", self._line_pos, p)
        self._line_pos = p
        return self._line_no

    def peek(self) -> int | None:
        """Skip whitespace; the next byte, or None at the end of the file."""
        while True:
            m = _NON_WS.search(self.buf, self.pos)
            if m is not None:
                self.pos = m.start()
                return self.buf[self.pos]
            self.pos = len(self.buf)
            if not self.fill():
                return None

    def value_end(self, s: int) -> int:
        """Exclusive end of the JSON value starting at `s` (fills the buffer as needed)."""
        c = self.buf[s]
        if c == 0x7B:
            m = _OBJECT.match(self.buf, s)
            if m is not None:
                return m.end()
        if c in b"{[":
            depth, p = 0, s
            while True:
                resume = len(self.buf)
                for m in _TOKEN.finditer(self.buf, p):
                    st = m.start()
                    ch = self.buf[st]
                    if ch == 0x22:
                        if m.end() - st == 1:  # unterminated string: need more bytes
                            resume = st
                            break
                    elif ch in b"{[":
                        depth += 1
                    else:
                        depth -= 1
                        if depth == 0:
                            return m.end()
                p = resume
                self._grow(s)
        while True:
            m = (_STRING.match if c == 0x22 else _SCALAR_END.search)(self.buf, s + (c != 0x22))
            if m is not None:
                return m.end() if c == 0x22 else m.start()
            if self.eof and c != 0x22:
                return len(self.buf)
            self._grow(s)

    def _grow(self, s: int) -> None:
        if len(self.buf) - s > MAX_RECORD_BYTES:
            raise _Truncated("record larger than 512 MiB")
        if not self.fill():
            raise _Truncated("the file ends inside this record (truncated or unbalanced)")


def iter_json(
    path: str | Path,
    file: str,
    *,
    encoding: str | None = None,
    errors: ErrorMode = "raise",
) -> Iterator[Record]:
    """A top-level array of objects, or an object holding one array of objects.

    For a wrapper object (`{"description": ..., "prompts": [{...}, ...]}`) the first
    member whose value is an array of objects is read; other members are skipped.
    """
    enc = check_encoding(encoding, file)
    sc = _Scanner(byte_chunks(path, enc))
    c = sc.peek()
    if c is None:
        return
    if c == 0x5B:  # [
        sc.pos += 1
        yield from _iter_array(sc, file, enc, errors)
        return
    if c != 0x7B:  # {
        raise DataError(
            "top-level JSON value is neither an array of records nor an object",
            file=file,
            line=sc.line_at(sc.pos),
            hint="pass --format jsonl if this is JSON Lines",
        )
    sc.pos += 1
    keys: list[str] = []
    try:
        while True:
            c = sc.peek()
            if c == 0x2C:  # ,
                sc.pos += 1
                continue
            if c != 0x22:
                break
            end = sc.value_end(sc.pos)
            keys.append(orjson.loads(bytes(sc.buf[sc.pos : end])))
            sc.pos = end
            if sc.peek() != 0x3A:  # :
                break
            sc.pos += 1
            vstart = sc.pos
            if sc.peek() == 0x5B:
                sc.pos += 1
                if sc.peek() == 0x7B:
                    yield from _iter_array(sc, file, enc, errors)
                    return
                sc.pos = vstart
                sc.peek()
            sc.pos = sc.value_end(sc.pos)
    except (_Truncated, orjson.JSONDecodeError):
        pass
    raise DataError(
        "this JSON object holds no array of records",
        file=file,
        line=1,
        field=None,
        found_fields=keys,
        hint="convert it to JSON Lines or a JSON array of objects",
    )


def _iter_array(sc: _Scanner, file: str, enc: str, errors: ErrorMode) -> Iterator[Record]:
    row = 0
    first = True
    loads = orjson.loads
    while True:
        sc.compact()
        c = sc.peek()
        if c == 0x5D:  # ]
            sc.pos += 1
            return
        if c is not None and not first:
            if c != 0x2C:
                err = DataError(
                    "expected ',' or ']' between array elements",
                    file=file,
                    line=sc.line_at(sc.pos),
                    hint=BAD_ROW_HINT,
                )
                raw = bytes(sc.buf[sc.pos : sc.pos + 65536])
                if errors == "raise":
                    raise err
                yield Record(None, row, err.line, file, raw, err)
                return
            sc.pos += 1
            c = sc.peek()
            if c == 0x5D:  # tolerate a trailing comma
                sc.pos += 1
                return
        if c is None:
            err = DataError(
                "the file ends before the closing ']' of the array (truncated?)",
                file=file,
                line=sc.line_at(len(sc.buf)),
                hint=BAD_ROW_HINT,
            )
            if errors == "raise":
                raise err
            yield Record(None, row, err.line, file, b"", err)
            return
        first = False
        s = sc.pos
        line = sc.line_at(s)
        if c == 0x7B:
            # fast path: the first `}` followed by `,` or `]` that closes a valid object
            # is the element's end (a proper prefix of an object is never valid JSON)
            m = _CANDIDATE_END.search(sc.buf, s)
            if m is not None:
                raw = bytes(sc.buf[s : m.start() + 1])
                try:
                    data = loads(raw)
                except orjson.JSONDecodeError:
                    pass
                else:
                    sc.pos = m.start() + 1
                    if type(data) is dict:
                        yield Record(data, row, line, file, raw)
                        row += 1
                        continue
        try:
            e = sc.value_end(s)
        except _Truncated as exc:
            err = DataError(str(exc), file=file, line=line, hint=BAD_ROW_HINT)
            if errors == "raise":
                raise err from None
            yield Record(None, row, line, file, bytes(sc.buf[s : s + 65536]), err)
            return
        raw = bytes(sc.buf[s:e])
        sc.pos = e
        yield json_record(raw, row, line, file, enc, errors)
        row += 1
