"""Streaming guarantees: constant memory on large inputs; shards reproduce a full read."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import tracemalloc
from pathlib import Path

import pytest

from refusalkit.readers import Shard, iter_records, read_exchanges, shard_ranges
from test_readers_formats import FIX, real_rows, write_hf_dataset, write_parquet

N_ROWS = 200_000


def _sharegpt_lines() -> list[str]:
    rows = [r for r in real_rows("sharegpt_sample.jsonl.gz") if len(json.dumps(r)) < 1000]
    return [json.dumps(r, ensure_ascii=False) for r in rows]


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200k prompt/response rows built from the real XSTest completions (fresh ids)."""
    rows = real_rows("xstest_completions_sample.csv")
    p = tmp_path_factory.mktemp("big") / "big.jsonl"
    with open(p, "w", encoding="utf-8") as fh:
        for i in range(N_ROWS):
            r = rows[i % len(rows)]
            row = {
                "id": f"{i}-{r['id']}",
                "prompt": r["prompt"],
                "completion": r["completion"][:200],
                "final_label": r["final_label"],
            }
            fh.write(json.dumps(row) + "\n")
    return p


def _peak_while(fn) -> tuple[int, object]:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


BOUND = 8 << 20


@pytest.mark.slow
def test_reading_200k_rows_uses_constant_memory(big_jsonl: Path) -> None:
    size = big_jsonl.stat().st_size
    assert size > 3 * BOUND

    def run() -> object:
        stream = read_exchanges(big_jsonl)
        for _ in stream:
            pass
        return stream.stats

    peak, stats = _peak_while(run)
    assert stats.rows == stats.exchanges == N_ROWS  # type: ignore[attr-defined]
    assert peak < BOUND, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB file"


def test_gzipped_json_array_streams_in_constant_memory(tmp_path: Path) -> None:
    rows = [r for r in real_rows("alpaca_sample.json") if len(json.dumps(r)) < 150]
    p = tmp_path / "big.json.gz"
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write("[\n")
        for i in range(40_000):
            fh.write(("," if i else "") + json.dumps(rows[i % len(rows)]) + "\n")
        fh.write("]\n")

    peak, n = _peak_while(lambda: sum(1 for _ in iter_records(p)))
    # a reader that materialised the list would hold 40k dicts (tens of MiB)
    assert n == 40_000
    assert peak < BOUND, f"peak {peak / 2**20:.1f} MiB"


def _full_and_sharded(
    path: Path, n: int, **kw: object
) -> tuple[list[dict], list[dict], list[Shard]]:
    full = [e.to_dict() for e in read_exchanges(path, **kw)]  # type: ignore[arg-type]
    shards = shard_ranges(path, n)
    parts = [e.to_dict() for s in shards for e in read_exchanges(s, **kw)]  # type: ignore[arg-type]
    return full, parts, shards


def test_jsonl_shards_reproduce_the_full_read(big_jsonl: Path, tmp_path: Path) -> None:
    # a smaller file with a BOM, blank lines and CRLF endings exercises the edges
    lines = _sharegpt_lines() * 40
    p = tmp_path / "edgy.jsonl"
    body = "\r\n".join(line + ("\n\n   " if i % 7 == 0 else "") for i, line in enumerate(lines))
    p.write_bytes(b"\xef\xbb\xbf" + body.encode())
    full, parts, shards = _full_and_sharded(p, 5)
    assert len(shards) == 5 and full == parts
    assert [s.start for s in shards] == sorted(s.start for s in shards)
    assert all(s.stop == t.start for s, t in itertools.pairwise(shards))
    # shards of the big file start where a full read says those rows start
    shards = shard_ranges(big_jsonl, 4)
    assert len(shards) == 4
    for s in shards[1:]:
        first = next(iter_records(s))
        assert (first.row, first.line) == (s.row, s.line)
        assert first.data["id"].startswith(f"{s.row}-")


def test_csv_shards_with_multiline_fields(tmp_path: Path) -> None:
    rows = real_rows("xstest_completions_sample.csv") * 30
    p = tmp_path / "x.csv"
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for i, r in enumerate(rows):
            w.writerow(dict(r, id=f"{r['id']}-{i}"))
    full, parts, shards = _full_and_sharded(p, 4)
    assert len(shards) == 4 and len(full) == 150 and full == parts
    assert shards[1].line > shards[1].row + 2  # multi-line rows: lines run ahead of rows


def test_parquet_shards_by_row_group(tmp_path: Path) -> None:
    rows = real_rows("coconot_pref_sample.jsonl") * 5
    p = write_parquet(tmp_path / "p.parquet", rows, row_group_size=2)
    full, parts, shards = _full_and_sharded(p, 3)
    assert len(shards) == 3 and full == parts
    assert [s.row for s in shards] == [0, 6, 10] or shards[0].row == 0


def test_hf_folder_shards_by_data_file(tmp_path: Path) -> None:
    rows = real_rows("alpaca_sample.json") * 3
    folder = write_hf_dataset(tmp_path / "hf", rows, shards=4)
    full, parts, shards = _full_and_sharded(folder, 4)
    assert len(shards) == 4 and full == parts
    assert [s.row for s in shards] == [0, 6, 12, 18]


def test_unshardable_inputs_come_back_whole() -> None:
    for name in ("sharegpt_sample.jsonl.gz", "alpaca_sample.json", "lima_sample.json.gz"):
        shards = shard_ranges(FIX / name, 4)
        assert len(shards) == 1 and shards[0].is_whole


def test_stats_to_dict_is_json_ready() -> None:
    stream = read_exchanges([FIX / "hh_rlhf_sample.jsonl.gz", FIX / "dolly_sample.csv"])
    stream.drain()
    d = json.loads(json.dumps(stream.stats.to_dict()))
    assert d["rows"] == 9 and d["exchanges"] == 14 + 4
    assert [f["shape"] for f in d["files"]] == ["hh_rlhf", "prompt_response"]
    assert d["files"][0]["gzip"] is True and d["files"][1]["fields"]["input"] == "context"
