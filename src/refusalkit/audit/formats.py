"""Write a filtered copy of a dataset in its original format, keeping rows verbatim.

Text formats copy each kept row's exact source text (JSONL lines, JSON array elements,
CSV records with the original header), so a curated file differs from the original
only by the removed rows; gzip in gives gzip out, and a non-UTF-8 input is written
back in its own encoding. Columnar formats (Parquet, Arrow, HF `save_to_disk`) keep
their schema and filter record batches. Everything streams, except a JSON *wrapper
object* (`{"meta": ..., "rows": [...]}`), which is loaded whole to keep its other keys.

`decide(file, row, record)` returns True to keep a row; it sees every row, readable or
not (unreadable rows arrive with `record.error` set), so the caller can account for all.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from refusalkit.readers.records import Record, is_gzip, iter_records, open_binary

Decide = Callable[[str, int, Record | None], bool]


@contextmanager
def _out(path: Path, gz: bool):  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fh: BinaryIO = gzip.open(tmp, "wb") if gz else open(tmp, "wb")  # type: ignore[assignment]  # noqa: SIM115
    try:
        yield fh
        fh.close()
        tmp.replace(path)
    except BaseException:
        fh.close()
        tmp.unlink(missing_ok=True)
        raise


def _encoder(encoding: str | None) -> Callable[[bytes], bytes]:
    """Readers hand out UTF-8 bytes; write rows back in the input's own encoding."""
    if not encoding or encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig"):
        return lambda b: b
    return lambda b: b.decode("utf-8", "surrogateescape").encode(encoding, "surrogateescape")


def copy_filtered(
    src: str,
    fmt: str,
    dst: Path,
    decide: Decide,
    *,
    encoding: str | None = None,
    split: str | None = None,
) -> tuple[int, int]:
    """Write the rows of `src` that `decide` keeps to `dst`; return (rows seen, rows kept)."""
    if fmt in ("jsonl", "csv", "tsv"):
        return _copy_lines(src, fmt, dst, decide, encoding)
    if fmt == "json":
        return _copy_json(src, dst, decide, encoding)
    if fmt in ("parquet", "arrow"):
        return _copy_columnar(src, fmt, dst, decide)
    if fmt == "hf_disk":
        return _copy_hf(src, dst, decide, split)
    raise ValueError(f"cannot write format {fmt!r}")


def _copy_lines(
    src: str, fmt: str, dst: Path, decide: Decide, encoding: str | None
) -> tuple[int, int]:
    enc = _encoder(encoding)
    seen = kept = 0
    eol = b"\n"
    with _out(dst, is_gzip(src)) as out:
        if fmt in ("csv", "tsv"):
            header, eol = _csv_header(src, "\t" if fmt == "tsv" else ",", encoding)
            out.write(header)
        for rec in iter_records(src, format=fmt, encoding=encoding, errors="yield"):
            seen += 1
            if decide(rec.file, rec.row, rec):
                raw = rec.raw if isinstance(rec.raw, bytes) else (rec.raw or "").encode()
                out.write(enc(raw.rstrip(b"\r")) + eol)
                kept += 1
    return seen, kept


def _csv_header(src: str, delimiter: str, encoding: str | None) -> tuple[bytes, bytes]:
    """The original header bytes (up to and including its line ending) and the line ending."""
    from refusalkit.readers.csv_format import read_csv_header
    from refusalkit.readers.text_formats import byte_chunks, check_encoding

    enc = check_encoding(encoding, src)
    _fields, offset, _line = read_csv_header(src, src, delimiter, enc)
    buf = b""
    for chunk in byte_chunks(src, enc):
        buf += chunk
        if len(buf) >= offset:
            break
    head = buf[:offset]
    eol = b"\r\n" if head.endswith(b"\r\n") else b"\n"
    return _encoder(encoding)(head), eol


def _copy_json(src: str, dst: Path, decide: Decide, encoding: str | None) -> tuple[int, int]:
    with open_binary(src) as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return _copy_json_wrapper(src, dst, decide, encoding)
    enc = _encoder(encoding)
    seen = kept = 0
    with _out(dst, is_gzip(src)) as out:
        out.write(b"[")
        for rec in iter_records(src, format="json", encoding=encoding, errors="yield"):
            seen += 1
            if decide(rec.file, rec.row, rec):
                out.write((b"\n" if not kept else b",\n") + enc(rec.raw or b""))  # type: ignore[operator]
                kept += 1
        out.write(b"\n]\n")
    return seen, kept


def _copy_json_wrapper(
    src: str, dst: Path, decide: Decide, encoding: str | None
) -> tuple[int, int]:
    import orjson

    with open_binary(src) as fh:
        raw = fh.read()
    if encoding:
        raw = raw.decode(encoding).encode()
    doc = orjson.loads(raw.lstrip(b"\xef\xbb\xbf"))
    key = next(k for k, v in doc.items() if isinstance(v, list) and v and isinstance(v[0], dict))
    records = list(iter_records(src, format="json", encoding=encoding, errors="yield"))
    kept_items = [
        item for item, rec in zip(doc[key], records, strict=False) if decide(rec.file, rec.row, rec)
    ]
    for rec in records[len(doc[key]) :]:  # a broken tail: still account for it
        decide(rec.file, rec.row, rec)
    doc[key] = kept_items
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    with _out(dst, is_gzip(src)) as out:
        out.write(_encoder(encoding)(text))
    return len(records), len(kept_items)


def _filter_batch(batch: Any, file: str, row0: int, decide: Decide) -> Any:
    import pyarrow as pa

    mask = pa.array([decide(file, row0 + i, None) for i in range(batch.num_rows)], type=pa.bool_())
    return batch.filter(mask)


@contextmanager
def _plain(src: str):  # type: ignore[no-untyped-def]
    from refusalkit.readers.arrow_formats import _plain_file

    with _plain_file(src) as path:
        yield path


def _copy_columnar(src: str, fmt: str, dst: Path, decide: Decide) -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    gz = is_gzip(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="refusalkit-curate-") as tmpdir:
        target = Path(tmpdir) / "out" if gz else dst.with_name(f".{dst.name}.tmp")
        seen = kept = 0
        with _plain(src) as path:
            if fmt == "parquet":
                pf = pq.ParquetFile(path)
                writer = pq.ParquetWriter(str(target), pf.schema_arrow)
                for batch in pf.iter_batches(batch_size=4096):
                    out = _filter_batch(batch, src, seen, decide)
                    writer.write_batch(out)
                    seen, kept = seen + batch.num_rows, kept + out.num_rows
                writer.close()
                pf.close()
            else:
                with pa.memory_map(path) as mm:
                    try:
                        reader: Any = pa.ipc.open_file(mm)
                        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
                        new = pa.ipc.new_file
                    except pa.ArrowInvalid:
                        mm.seek(0)
                        reader = pa.ipc.open_stream(mm)
                        batches, new = iter(reader), pa.ipc.new_stream
                    with pa.OSFile(str(target), "wb") as sink, new(sink, reader.schema) as w:
                        for batch in batches:
                            out = _filter_batch(batch, src, seen, decide)
                            w.write_batch(out)
                            seen, kept = seen + batch.num_rows, kept + out.num_rows
        if gz:
            with open(target, "rb") as fin, _out(dst, True) as fout:
                shutil.copyfileobj(fin, fout)
        else:
            target.replace(dst)
    return seen, kept


def _copy_hf(src: str, dst: Path, decide: Decide, split: str | None) -> tuple[int, int]:
    """A `save_to_disk` folder: same layout, each data file filtered, metadata copied.

    `state.json`/`dataset_info.json` are copied unchanged (row counts in them may be
    stale; the `datasets` library reads the Arrow files themselves).
    """
    import pyarrow as pa

    from refusalkit.readers.arrow_formats import hf_splits

    root = Path(src)
    seen = kept = 0
    dst.mkdir(parents=True, exist_ok=True)
    splits = hf_splits(src, src, split)
    if (root / "dataset_dict.json").is_file():
        import json

        names = [name for name, _, _ in splits]
        (dst / "dataset_dict.json").write_text(json.dumps({"splits": names}))
    for name, shown, files in splits:
        folder = (
            root / name if name is not None and (root / "dataset_dict.json").is_file() else root
        )
        target = dst / name if folder != root else dst
        target.mkdir(parents=True, exist_ok=True)
        for meta in folder.glob("*.json"):
            shutil.copyfile(meta, target / meta.name)
        row = 0
        for data_file in files:
            with pa.memory_map(str(data_file)) as mm:
                reader = pa.ipc.open_stream(mm)
                tmp = target / f".{data_file.name}.tmp"
                with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, reader.schema) as w:
                    for batch in reader:
                        out = _filter_batch(batch, shown, row, decide)
                        w.write_batch(out)
                        row += batch.num_rows
                        kept += out.num_rows
                tmp.replace(target / data_file.name)
        seen += row
    return seen, kept
