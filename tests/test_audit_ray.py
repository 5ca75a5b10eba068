"""`--engine ray` on a local Ray instance gives exactly the local engine's results."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from audit_helpers import FIX, report_numbers, run_audit, sample
from test_readers_formats import write_jsonl

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_ray_engine_equals_local_engine(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from refusalkit.readers import iter_records

    rows = [r.data for r in iter_records(sample("sharegpt"))]
    jsonl = write_jsonl(tmp_path / "sharegpt.jsonl", rows)
    inputs = [jsonl, sample("hh_rlhf"), FIX / "dolly_sample.csv"]
    try:
        run_audit(tmp_path / "local", inputs, workers=2, shard_bytes=100_000)
        on_ray = run_audit(tmp_path / "ray", inputs, workers=2, shard_bytes=100_000, engine="ray")
    finally:
        ray.shutdown()
    assert on_ray.info["engine"] == "ray" and on_ray.info["timing"]["units"] > len(inputs)
    a = pq.read_table(tmp_path / "local" / "results.parquet")
    b = pq.read_table(tmp_path / "ray" / "results.parquet")
    assert a.num_rows == b.num_rows > 0 and a.equals(b)
    assert report_numbers(tmp_path / "local") == report_numbers(tmp_path / "ray")
