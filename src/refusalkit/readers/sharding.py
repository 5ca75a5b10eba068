"""Split one input into independently readable shards for parallel audits.

A sharded read yields exactly the records (rows, lines, ids) a full read does: JSONL
and CSV shards are byte ranges that start at a record boundary and carry the row and
line number of their first record; Parquet shards are row-group ranges; Hugging Face
folders shard by data file. Gzip files, JSON arrays and single Arrow files cannot be
entered in the middle and always come back as one shard.
"""

from __future__ import annotations

import os
from pathlib import Path

from refusalkit.readers.records import Shard, detect_format, display_name, is_gzip


def _targets(size: int, n: int) -> list[int]:
    return [size * i // n for i in range(1, n)]


def _text_boundaries(path: str, fmt: str, n: int) -> list[tuple[int, int, int]]:
    """(byte offset, row, line) of the record starting each shard (after the first)."""
    from refusalkit.readers.csv_format import csv_records, raise_csv_limit
    from refusalkit.readers.text_formats import byte_chunks

    targets = _targets(os.path.getsize(path), n)
    out: list[tuple[int, int, int]] = []
    if not targets:
        return out
    ti = 0
    if fmt == "jsonl":
        offset, row, line = 0, 0, 1
        with open(path, "rb") as fh:
            head = fh.read(3)
            fh.seek(0)
            if head == b"\xef\xbb\xbf":  # reader strips it; keep offsets in file bytes
                fh.read(3)
                offset = 3
            for raw in fh:
                if offset >= targets[ti] and offset > 0:
                    out.append((offset, row, line))
                    while ti < len(targets) and targets[ti] <= offset:
                        ti += 1
                    if ti == len(targets):
                        break
                if not raw.isspace():
                    row += 1
                offset += len(raw)
                line += 1
        return out
    raise_csv_limit()
    delimiter = "\t" if fmt == "tsv" else ","
    bom = 0
    with open(path, "rb") as fh:
        if fh.read(3) == b"\xef\xbb\xbf":
            bom = 3
    row, header_seen = 0, False
    for fields, _raw, offset, line, problem in csv_records(
        byte_chunks(path, "utf-8"), delimiter, bom
    ):
        if fields is not None and not fields:
            continue
        if not header_seen:
            header_seen = True
            continue
        if offset >= targets[ti]:
            out.append((offset, row, line))
            while ti < len(targets) and targets[ti] <= offset:
                ti += 1
            if ti == len(targets):
                break
        del problem
        row += 1
    return out


def shard_ranges(
    path: str | os.PathLike[str],
    n: int,
    *,
    format: str | None = None,
    encoding: str | None = None,
    split: str | None = None,
) -> list[Shard]:
    """At most `n` contiguous shards covering `path` in order (fewer for small inputs).

    Planning JSONL/CSV costs one fast pass over the file (line scanning, no JSON
    parsing). Non-UTF-8 encodings, gzip, JSON arrays and Arrow files give one shard.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    file = display_name(os.fspath(path))
    fmt = detect_format(file, format)
    whole = Shard(
        file, fmt, split=split, line=1 if fmt in ("jsonl", "json", "csv", "tsv") else None
    )
    utf8 = encoding is None or encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")
    if fmt in ("jsonl", "csv", "tsv"):
        if n == 1 or not utf8 or is_gzip(file):
            return [whole]
        bounds = _text_boundaries(file, fmt, n)
        starts = [(0, 0, 1), *bounds]
        return [
            Shard(file, fmt, off, starts[i + 1][0] if i + 1 < len(starts) else None, row, line)
            for i, (off, row, line) in enumerate(starts)
        ]
    if fmt == "parquet":
        if is_gzip(file):
            return [whole]
        from refusalkit.readers.arrow_formats import parquet_row_groups

        sizes = parquet_row_groups(file)
        return _group(file, fmt, sizes, n, None)
    if fmt == "hf_disk":
        from refusalkit.readers.arrow_formats import arrow_stream_rows, hf_splits

        shards: list[Shard] = []
        for name, _shown, files in hf_splits(file, file, split):
            sizes = [arrow_stream_rows(Path(f)) for f in files]
            shards += _group(file, fmt, sizes, n, name)
        return shards
    return [whole]


def _group(file: str, fmt: str, sizes: list[int], n: int, split: str | None) -> list[Shard]:
    """Contiguous ranges of units (row groups / data files) balanced by row count."""
    total = sum(sizes)
    if not sizes:
        return [Shard(file, fmt, split=split, line=None)]
    shards: list[Shard] = []
    start, row, acc = 0, 0, 0
    for i, size in enumerate(sizes):
        acc += size
        # close the shard when its share of rows is reached (keep units left for the rest)
        if len(shards) < n - 1 and acc >= total * (len(shards) + 1) / n and i + 1 < len(sizes):
            shards.append(Shard(file, fmt, start, i + 1, row, None, split))
            start, row = i + 1, acc
    shards.append(Shard(file, fmt, start, None, row, None, split))
    return shards
