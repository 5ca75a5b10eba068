"""Columnar readers: Parquet, Arrow IPC files and Hugging Face `save_to_disk` folders.

They iterate record batches (never whole tables), so memory is bounded by one batch.
Columnar rows have no line numbers: positions are 0-based rows. pyarrow is imported
inside the functions so that importing refusalkit never pulls it in.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from refusalkit.core.errors import DataError
from refusalkit.readers.records import Record, Shard, is_gzip

BATCH_ROWS = 1024
_SPLIT_HINT = "pass --split with one of the listed splits, or leave it out to read them all"


def _rows(batch: Any) -> list[dict[str, Any]]:
    """Batch rows as dicts, with dates/decimals/UTF-8 binaries made JSON-safe first."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = None
    for i, field in enumerate(batch.schema):
        t = field.type
        if (
            pa.types.is_temporal(t)
            or pa.types.is_decimal(t)
            or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
        ):
            try:
                cast = pc.cast(batch.column(i), pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            if cols is None:
                cols = list(batch.columns)
            cols[i] = cast
    if cols is not None:
        batch = pa.RecordBatch.from_arrays(cols, names=batch.schema.names)
    return batch.to_pylist()


@contextmanager
def _plain_file(path: str | Path) -> Iterator[str]:
    """Columnar formats need random access: gunzip a `.gz` to a temporary file first."""
    if not is_gzip(path):
        yield str(path)
        return
    fd, tmp = tempfile.mkstemp(prefix="refusalkit-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        yield tmp
    finally:
        Path(tmp).unlink(missing_ok=True)


def _unreadable(file: str, kind: str, exc: Exception, row: int | None = None) -> DataError:
    return DataError(
        f"not a readable {kind} file ({exc})",
        file=file,
        row=row,
        hint="check that the file is complete, or pass --format to read it as another format",
    )


def parquet_row_groups(path: str | Path) -> list[int]:
    """Rows in each row group (metadata only)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(str(path)).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def iter_parquet(path: str | Path, file: str, *, shard: Shard | None = None) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _plain_file(path) as src:
        try:
            pf = pq.ParquetFile(src)
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(file, "Parquet", exc) from None
        groups = None
        row = 0
        if shard is not None:
            stop = pf.num_row_groups if shard.stop is None else shard.stop
            groups, row = list(range(shard.start, stop)), shard.row
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=groups):
                for data in _rows(batch):
                    yield Record(data, row, None, file)
                    row += 1
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(file, "Parquet", exc, row) from None
        finally:
            pf.close()


def _ipc_batches(src: str) -> Iterator[Any]:
    """Batches of an Arrow IPC file: the random-access format, else the stream format."""
    import pyarrow as pa

    with pa.memory_map(src) as mm:
        try:
            reader = pa.ipc.open_file(mm)
        except pa.ArrowInvalid:
            mm.seek(0)
            yield from pa.ipc.open_stream(mm)
            return
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


def iter_arrow_file(path: str | Path, file: str) -> Iterator[Record]:
    import pyarrow as pa

    row = 0
    with _plain_file(path) as src:
        try:
            for batch in _ipc_batches(src):
                for data in _rows(batch):
                    yield Record(data, row, None, file)
                    row += 1
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(file, "Arrow", exc, row) from None


# ----------------------------------------------------------- Hugging Face save_to_disk


def _read_json(path: Path, file: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read {path.name} ({exc})", file=file, hint="re-save the dataset"
        ) from None
    if not isinstance(data, dict):
        raise DataError(f"{path.name} is not a JSON object", file=file, hint="re-save the dataset")
    return data


def _data_files(folder: Path, file: str) -> list[Path]:
    state = _read_json(folder / "state.json", file)
    if state.get("_indices_data_files"):
        raise DataError(
            "this dataset was saved with an indices mapping (an old `datasets` version), "
            "which is not supported",
            file=file,
            hint="re-save it with `ds.flatten_indices().save_to_disk(...)`",
        )
    entries = state.get("_data_files")
    if not isinstance(entries, list) or not entries:
        raise DataError("state.json lists no `_data_files`", file=file, found_fields=list(state))
    files = []
    for entry in entries:
        name = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(name, str) or "/" in name or "\\" in name or name in ("", ".", ".."):
            raise DataError(
                f"state.json names an invalid data file {name!r}",
                file=file,
                hint="re-save the dataset",
            )
        if not (folder / name).is_file():
            raise DataError(
                f"data file {name} listed in state.json is missing",
                file=file,
                hint="re-save the dataset",
            )
        files.append(folder / name)
    return files


def hf_splits(
    path: str | Path, file: str, split: str | None = None
) -> list[tuple[str | None, str, list[Path]]]:
    """(split name, display name, data files) for a Dataset or each split of a DatasetDict."""
    root = Path(path)
    if (root / "dataset_dict.json").is_file():
        names = _read_json(root / "dataset_dict.json", file).get("splits")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(
                "dataset_dict.json has no list of `splits`", file=file, hint="re-save the dataset"
            )
        if split is not None:
            if split not in names:
                raise DataError(
                    f"no split {split!r} in this dataset",
                    file=file,
                    field="split",
                    found_fields=names,
                    hint=_SPLIT_HINT,
                )
            names = [split]
        return [(n, os.path.join(file, n), _data_files(root / n, file)) for n in names]
    own = _read_json(root / "state.json", file).get("_split")
    if split is not None and own is not None and split != own:
        raise DataError(
            f"this folder holds one dataset (split {own!r}), not split {split!r}",
            file=file,
            field="split",
            found_fields=[own],
            hint="leave out --split for a single-split folder",
        )
    return [(None, file, _data_files(root, file))]


def arrow_stream_rows(path: Path) -> int:
    return sum(b.num_rows for b in _ipc_batches(str(path)))


def iter_hf_disk(
    path: str | Path, file: str, *, split: str | None = None, shard: Shard | None = None
) -> Iterator[Record]:
    """Rows of every split (in `dataset_dict.json` order) or of `split`; rows restart at 0 per split."""
    import pyarrow as pa

    for name, shown, files in hf_splits(path, file, split):
        row = 0
        if shard is not None:
            files = files[shard.start : shard.stop]
            row = shard.row
        for data_file in files:
            try:
                for batch in _ipc_batches(str(data_file)):
                    for data in _rows(batch):
                        yield Record(data, row, None, shown, split=name)
                        row += 1
            except (pa.ArrowException, OSError) as exc:
                raise _unreadable(str(data_file), "Arrow", exc, row) from None
