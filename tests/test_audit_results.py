"""Run-folder building blocks: the results schema and writer, run.json, and SQL over results."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from audit_helpers import run_audit, sample
from refusalkit.core.errors import ConfigError
from refusalkit.core.models import Behavior, Exchange, Group, Source, Verdict
from refusalkit.reports.results import (
    BASE_COLUMNS,
    ResultsWriter,
    concat_results,
    iter_results,
    read_run_json,
    rerender,
    result_row,
    results_meta,
    verdict_from_row,
    write_run_json,
)


def _row(i: int) -> dict:
    ex = Exchange(f"x:{i}", "prompt", "resp", source=Source("f.jsonl", i, i + 1, 0, None))
    v = Verdict(
        Behavior.FULL_REFUSAL, 0.9, "privacy", {"privacy": 0.9}, Group.SHOULD_NOT, "rules", "1"
    )
    return result_row(ex, v, dataset="d", prompt="p" * 10, response=f"r{i}")


def test_writer_streams_row_groups_and_round_trips(tmp_path: Path) -> None:
    extra = {"dataset": "string", "prompt": "string", "response": "string"}
    path = tmp_path / "results.parquet"
    with ResultsWriter(path, extra, meta={"kind": "test"}, row_group_rows=10) as w:
        for i in range(25):
            w.write(_row(i))
        assert not path.exists()  # appears only when complete
    pf = pq.ParquetFile(path)
    assert pf.metadata.num_row_groups == 3 and pf.metadata.num_rows == 25
    assert list(pf.schema_arrow.names[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert results_meta(path) == {"schema_version": 1, "kind": "test"}
    rows = list(iter_results(path))
    assert rows[7]["id"] == "x:7" and rows[7]["line"] == 8 and rows[7]["side"] is None
    v = verdict_from_row(rows[7])
    assert v.category_scores == {"privacy": 0.9} and v.group is Group.SHOULD_NOT
    both = tmp_path / "both.parquet"
    assert concat_results([path, path], both) == 50


def test_writer_rejects_unknown_columns_and_aborts_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    with pytest.raises(KeyError, match="not in this results schema"), ResultsWriter(path) as w:
        w.write({"id": "a", "surprise": 1})
    assert not path.exists() and not list(tmp_path.iterdir())


def test_run_json_helpers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a run folder"):
        read_run_json(tmp_path)
    write_run_json(tmp_path, {"kind": "mystery"})
    assert read_run_json(tmp_path)["kind"] == "mystery"
    with pytest.raises(ConfigError, match="no report renderer"):
        rerender(tmp_path)


def test_audit_results_answer_sql(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    run = tmp_path / "run"
    res = run_audit(run, [sample("sharegpt"), sample("hh_rlhf")])
    con = duckdb.connect()
    got = dict(
        con.execute(
            f"select dataset, count(*) filter (where behavior in ('full_refusal','partial_refusal')) "
            f"from read_parquet('{run / 'results.parquet'}') where \"distinct\" group by dataset"
        ).fetchall()
    )
    assert got == {d: res.agg.total(d).refusals for d in res.agg.datasets}
    info = json.loads((run / "run.json").read_text())
    assert info["kind"] == "audit-data" and info["detector"]["name"] == "rules"
    assert [i["name"] for i in info["inputs"]] == ["sharegpt", "hh_rlhf_harmless"]
