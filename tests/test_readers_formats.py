"""Every input format (and gzip) reads the same real rows, with exact rows and lines.

The JSON/CSV fixtures are verbatim copies of real files from ../shared/data (see
tests/fixtures/README.md); Parquet, Arrow and HF `save_to_disk` inputs are built here
from those same rows. The builders are imported by the other reader tests.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from refusalkit.readers import FORMATS, detect_format, iter_records, read_exchanges

FIX = Path(__file__).parent / "fixtures" / "readers"


# ----------------------------------------------------------------------------- builders


def real_rows(name: str) -> list[dict[str, Any]]:
    """The records of a fixture file, as dicts."""
    return [r.data for r in iter_records(FIX / name)]  # type: ignore[misc]


def gzip_copy(src: Path, dst: Path) -> Path:
    with open(src, "rb") as fin, gzip.open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]], row_group_size: int = 2) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    return path


def _hf_features(schema: Any) -> dict[str, Any]:
    import pyarrow as pa

    def feat(t: Any) -> Any:
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return [feat(t.value_type)]
        if pa.types.is_struct(t):
            return {f.name: feat(f.type) for f in t}
        dtype = "string" if pa.types.is_string(t) or pa.types.is_large_string(t) else str(t)
        return {"dtype": dtype, "_type": "Value"}

    return {f.name: feat(f.type) for f in schema}


def write_hf_dataset(
    folder: Path, rows: list[dict[str, Any]], *, split: str | None = None, shards: int = 1
) -> Path:
    """The layout `datasets.Dataset.save_to_disk` writes: Arrow IPC *stream* files
    `data-0000i-of-0000n.arrow`, `state.json` listing them, and `dataset_info.json`."""
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    features = _hf_features(table.schema)
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    table = table.replace_schema_metadata(meta)
    folder.mkdir(parents=True)
    names = []
    n = len(rows)
    for i in range(shards):
        lo, hi = i * n // shards, (i + 1) * n // shards
        name = f"data-{i:05d}-of-{shards:05d}.arrow"
        with (
            pa.OSFile(str(folder / name), "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as writer,
        ):
            writer.write_table(table.slice(lo, hi - lo), max_chunksize=2)
        names.append(name)
    state = {
        "_data_files": [{"filename": name} for name in names],
        "_fingerprint": "5d1e6c1f0a9b2c3d",
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": split,
    }
    (folder / "state.json").write_text(json.dumps(state, indent=2))
    info = {"citation": "", "description": "", "features": features, "homepage": "", "license": ""}
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2))
    return folder


def write_hf_dict(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> Path:
    for name, rows in splits.items():
        write_hf_dataset(folder / name, rows, split=name)
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
    return folder


def ids(stream: Any) -> list[str]:
    return [ex.id for ex in stream]


# ------------------------------------------------------------------------------- tests


def test_formats_tuple_lists_every_format() -> None:
    assert set(FORMATS) == {"jsonl", "json", "csv", "tsv", "parquet", "arrow", "hf_disk"}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("sharegpt_sample.jsonl.gz", "jsonl"),
        ("hh_rlhf_sample.jsonl.gz", "jsonl"),
        ("coconot_pref_sample.jsonl", "jsonl"),
        ("alpaca_sample.json", "json"),
        ("lima_sample.json.gz", "json"),
        ("uncensorbench_sample.json", "json"),
        ("dolly_sample.csv", "csv"),
        ("xstest_completions_sample.csv", "csv"),
    ],
)
def test_detect_format_by_extension(name: str, fmt: str) -> None:
    assert detect_format(FIX / name) == fmt


def test_json_extension_holding_jsonl_is_sniffed(tmp_path: Path) -> None:
    p = tmp_path / "coconot.json"
    shutil.copy(FIX / "coconot_responses_sample.jsonl", p)
    assert detect_format(p) == "jsonl"
    assert len(list(iter_records(p))) == 5


def test_jsonl_rows_and_lines_with_blank_lines_and_crlf(tmp_path: Path) -> None:
    raw = (FIX / "coconot_responses_sample.jsonl").read_bytes().split(b"\n")
    p = tmp_path / "gappy.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + raw[0] + b"\r\n\r\n" + raw[1] + b"\n   \n" + raw[2])
    recs = list(iter_records(p))
    assert [(r.row, r.line) for r in recs] == [(0, 1), (1, 3), (2, 5)]
    assert recs[0].data["id"] == json.loads(raw[0])["id"]
    assert recs[2].raw == raw[2]


@pytest.mark.parametrize(
    "name", ["sharegpt_sample.jsonl.gz", "lima_sample.json.gz", "hh_rlhf_sample.jsonl.gz"]
)
def test_gzip_and_plain_read_identically(tmp_path: Path, name: str) -> None:
    plain = tmp_path / name[:-3]
    with gzip.open(FIX / name, "rb") as fin:
        plain.write_bytes(fin.read())
    a = [e.to_dict() for e in read_exchanges(FIX / name)]
    b = [e.to_dict() for e in read_exchanges(plain)]
    for x, y in zip(a, b, strict=True):
        x["source"].pop("file"), y["source"].pop("file")
    assert a == b and a


@pytest.mark.parametrize(
    "name",
    [
        "dolly_sample.csv",
        "alpaca_sample.json",
        "uncensorbench_sample.json",
        "coconot_pref_sample.jsonl",
    ],
)
def test_gzipped_copies_of_every_text_format(tmp_path: Path, name: str) -> None:
    gz = gzip_copy(FIX / name, tmp_path / (name + ".gz"))
    assert [r.data for r in iter_records(gz)] == [r.data for r in iter_records(FIX / name)]
    assert [(r.row, r.line) for r in iter_records(gz)] == [
        (r.row, r.line) for r in iter_records(FIX / name)
    ]


def test_gzip_detected_by_magic_bytes_without_gz_extension(tmp_path: Path) -> None:
    p = tmp_path / "hh.jsonl"
    shutil.copy(FIX / "hh_rlhf_sample.jsonl.gz", p)
    assert len(list(iter_records(p))) == 5


def test_json_array_lines_point_at_each_record_start() -> None:
    recs = list(iter_records(FIX / "lima_sample.json.gz"))
    assert len(recs) == 4
    assert recs[0].line == 2  # pretty-printed: `[` then `  {`
    text = gzip.decompress((FIX / "lima_sample.json.gz").read_bytes()).decode()
    lines = text.split("\n")
    for rec in recs:
        assert lines[rec.line - 1].strip() == "{"
        assert json.loads(rec.raw) == rec.data
    assert [r.row for r in recs] == [0, 1, 2, 3]


def test_compact_json_array_alpaca() -> None:
    recs = list(iter_records(FIX / "alpaca_sample.json"))
    assert [r.data for r in recs] == json.loads((FIX / "alpaca_sample.json").read_text())
    assert all(r.line == 1 for r in recs)


def test_json_array_records_spanning_read_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import refusalkit.readers.text_formats as tf

    monkeypatch.setattr(tf, "CHUNK", 64)  # every record straddles several chunks
    rows = real_rows("lima_sample.json.gz") + real_rows("alpaca_sample.json")
    p = tmp_path / "mixed.json"
    p.write_text(json.dumps(rows, indent=1, ensure_ascii=False))
    assert [r.data for r in iter_records(p)] == rows


def test_json_wrapper_object_reads_its_record_array() -> None:
    recs = list(iter_records(FIX / "uncensorbench_sample.json"))
    assert [r.data["id"] for r in recs] == ["cyber_001", "cyber_002", "cyber_003"]
    assert recs[0].line == 6


def test_csv_multiline_fields_keep_record_start_lines() -> None:
    recs = list(iter_records(FIX / "xstest_completions_sample.csv"))
    assert [r.data["id"] for r in recs] == ["v2-26", "v2-27", "v2-28", "v2-389", "v2-391"]
    assert [r.line for r in recs] == [2, 3, 4, 13, 14]
    assert "\n\n1. Documenting" in recs[2].data["completion"]
    assert recs[2].raw.startswith(b"v2-28,contrast_homonyms,")


def test_tsv(tmp_path: Path) -> None:
    import csv

    rows = real_rows("xstest_completions_sample.csv")
    p = tmp_path / "x.tsv"
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    assert [r.data for r in iter_records(p)] == rows


def test_latin1_encoding(tmp_path: Path) -> None:
    rows = real_rows("xstest_completions_sample.csv")[:2]
    p = tmp_path / "latin.csv"
    p.write_bytes("id,prompt,completion\n1,Caf\u00e9 cr\u00e8me?,Oui\n".encode("latin-1"))
    recs = list(iter_records(p, encoding="latin-1"))
    assert recs[0].data["prompt"] == "Café crème?"
    j = tmp_path / "latin.jsonl"
    j.write_bytes(
        json.dumps({"prompt": "na\u00efve " + rows[0]["prompt"]}, ensure_ascii=False).encode(
            "latin-1"
        )
        + b"\n"
    )
    assert next(iter_records(j, encoding="latin-1")).data["prompt"].startswith("naïve ")


def test_utf16_json_is_transcoded(tmp_path: Path) -> None:
    rows = real_rows("alpaca_sample.json")
    p = tmp_path / "u16.json"
    p.write_bytes(json.dumps(rows, ensure_ascii=False).encode("utf-16"))
    assert [r.data for r in iter_records(p, encoding="utf-16")] == rows


@pytest.mark.parametrize("gz", [False, True])
def test_parquet_from_real_rows(tmp_path: Path, gz: bool) -> None:
    rows = real_rows("xstest_completions_sample.csv")
    p = write_parquet(tmp_path / "x.parquet", rows)
    if gz:
        p = gzip_copy(p, tmp_path / "x.parquet.gz")
    assert detect_format(p) == "parquet"
    recs = list(iter_records(p))
    assert [r.data for r in recs] == rows
    assert [r.row for r in recs] == list(range(len(rows)))
    assert all(r.line is None for r in recs)
    exs = list(read_exchanges(p))
    assert [e.id for e in exs] == [r["id"] for r in rows]
    assert exs[0].source.line is None and exs[0].source.row == 0


def test_parquet_dates_and_binary_become_json_safe(tmp_path: Path) -> None:
    import datetime

    rows = [
        dict(r, when=datetime.date(2024, 1, i + 1), blob=r["id"].encode())
        for i, r in enumerate(real_rows("coconot_responses_sample.jsonl"))
    ]
    p = write_parquet(tmp_path / "d.parquet", rows)
    ex = next(iter(read_exchanges(p)))
    assert ex.metadata["when"] == "2024-01-01"
    assert ex.metadata["blob"] == rows[0]["id"]


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_arrow_ipc_file(tmp_path: Path, kind: str) -> None:
    import pyarrow as pa

    rows = real_rows("coconot_pref_sample.jsonl")
    table = pa.Table.from_pylist(rows)
    p = tmp_path / "pref.arrow"
    opener = pa.ipc.new_file if kind == "file" else pa.ipc.new_stream
    with pa.OSFile(str(p), "wb") as sink, opener(sink, table.schema) as w:
        w.write_table(table, max_chunksize=1)
    assert [r.data for r in iter_records(p)] == rows


def test_hf_save_to_disk_dataset(tmp_path: Path) -> None:
    rows = real_rows("alpaca_sample.json")
    folder = write_hf_dataset(tmp_path / "alpaca_hf", rows, split="train", shards=3)
    assert detect_format(folder) == "hf_disk"
    recs = list(iter_records(folder))
    assert [r.data for r in recs] == rows
    assert [r.row for r in recs] == list(range(8))
    exs = list(read_exchanges(folder))
    assert exs[0].id == "alpaca_hf:0" and exs[0].source.file == str(folder)
    assert next(iter(read_exchanges(folder, split="train"))).id == "alpaca_hf:0"


def test_hf_dataset_dict_all_splits_or_one(tmp_path: Path) -> None:
    rows = real_rows("coconot_responses_sample.jsonl")
    folder = write_hf_dict(tmp_path / "coconot_hf", {"train": rows[:3], "test": rows[3:]})
    stream = read_exchanges(folder)
    exs = list(stream)
    assert [e.id for e in exs] == [r["id"] for r in rows]
    assert [e.source.row for e in exs] == [0, 1, 2, 0, 1]
    assert exs[3].source.file == str(folder / "test")
    assert set(stream.stats.files) == {str(folder / "train"), str(folder / "test")}
    assert stream.stats.files[str(folder / "test")].split == "test"
    only = list(read_exchanges(folder, split="test"))
    assert [e.id for e in only] == [r["id"] for r in rows[3:]]


def test_hf_rows_without_id_get_split_qualified_ids(tmp_path: Path) -> None:
    rows = real_rows("alpaca_sample.json")
    folder = write_hf_dict(tmp_path / "alp", {"train": rows[:2], "validation": rows[2:4]})
    assert ids(read_exchanges(folder)) == [
        "alp/train:0",
        "alp/train:1",
        "alp/validation:0",
        "alp/validation:1",
    ]


def test_format_override(tmp_path: Path) -> None:
    p = tmp_path / "data.txt"
    shutil.copy(FIX / "coconot_responses_sample.jsonl", p)
    assert len(list(read_exchanges(p, format="jsonl"))) == 5


def test_import_does_not_load_pyarrow() -> None:
    import subprocess
    import sys

    code = "import sys, refusalkit.readers, refusalkit.cli.app; print('pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
