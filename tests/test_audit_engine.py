"""The audit engine: counts match an independent pass, every engine mode agrees, runs resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from audit_helpers import FIX, dpo_rows, report_numbers, run_audit, sample
from refusalkit.audit.aggregate import opener
from refusalkit.audit.report import pair_summary
from refusalkit.core.errors import ConfigError
from refusalkit.detectors.registry import load_detector
from refusalkit.readers import read_exchanges
from test_readers_formats import write_hf_dict, write_jsonl, write_parquet

REFUSAL = {"full_refusal", "partial_refusal"}


def _independent_counts(path: str) -> Counter[str]:
    """Behaviour counts of the distinct exchanges, computed without the audit code."""
    exs = list(read_exchanges(path))
    verdicts = load_detector("rules").predict(exs)
    out: Counter[str] = Counter()
    for ex, v in zip(exs, verdicts, strict=True):
        if ex.source.side == "rejected" and ex.metadata.get("_same_across_sides"):
            continue
        out[v.behavior.value] += 1
    return out


@pytest.mark.parametrize("name", ["sharegpt", "hh_rlhf", "alpaca", "lima", "dolly"])
def test_composition_matches_an_independent_pass(tmp_path: Path, name: str) -> None:
    path = sample(name)
    res = run_audit(tmp_path / "run", [path])
    comp = res.agg.total()
    expected = _independent_counts(path)
    assert dict(+comp.behavior) == dict(expected)
    assert comp.judged == sum(n for b, n in expected.items() if b != "unjudged")
    # one results row per exchange, none lost or doubled
    table = pq.read_table(tmp_path / "run" / "results.parquet")
    stats = read_exchanges(path).drain()
    assert table.num_rows == stats.exchanges
    keys = list(
        zip(
            *(table.column(c).to_pylist() for c in ("source_file", "row", "turn", "side")),
            strict=True,
        )
    )
    assert len(set(keys)) == len(keys)


def test_workers_streaming_and_shards_give_identical_results(tmp_path: Path) -> None:
    """One process, a pool over shards, and batches streamed from the parent agree exactly."""
    big = write_jsonl(tmp_path / "sharegpt.jsonl", [r.data for r in _records(sample("sharegpt"))])
    inputs = [big, sample("hh_rlhf"), sample("alpaca")]
    base = run_audit(tmp_path / "one", inputs, workers=1)
    pool = run_audit(tmp_path / "pool", inputs, workers=2, shard_bytes=40_000)
    run_audit(tmp_path / "stream", inputs, workers=2, stream="always")
    assert base.out_dir != pool.out_dir
    assert pool.info["timing"]["units"] > len(inputs)  # the JSONL really was sharded
    ref = pq.read_table(tmp_path / "one" / "results.parquet")
    for other in ("pool", "stream"):
        assert pq.read_table(tmp_path / other / "results.parquet").equals(ref), other
        assert report_numbers(tmp_path / other) == report_numbers(tmp_path / "one"), other


def _records(path: str) -> list:
    from refusalkit.readers import iter_records

    return list(iter_records(path))


def test_unjudged_rows_are_their_own_count(tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"prompt": "a", "response": ""},
            {"prompt": "b", "response": "I'm sorry, but I can't help with that."},
            {"prompt": "c", "response": "Paris is the capital of France."},
        ],
    )
    comp = run_audit(tmp_path / "run", [data]).agg.total()
    assert (comp.unjudged, comp.judged, comp.refusals) == (1, 2, 1)
    assert comp.refusal_rate().value == 0.5
    assert comp.unjudged_reasons == {"empty response": 1}


def test_preference_pairs_counted_once_on_the_final_turn(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", dpo_rows())
    res = run_audit(tmp_path / "run", [data])
    p = pair_summary(res.agg, "pairs")
    assert p is not None
    assert p["pairs"] == 5
    assert (p["only_chosen_refuses"], p["only_rejected_refuses"]) == (1, 1)
    assert (p["both_refuse"], p["neither_refuses"], p["with_unjudged_side"]) == (1, 1, 1)
    assert p["chosen_refuses"]["n"] == 2 and p["chosen_refuses"]["judged"] == 4
    assert p["rejected_refuses"]["n"] == 2 and p["rejected_refuses"]["judged"] == 5
    kinds = {k for (_d, kind, k) in res.agg.examples if kind == "pair"}
    assert kinds == {"chosen_refuses", "rejected_refuses"}
    # HH-RLHF: shared earlier turns are counted once (chosen side only)
    hh = run_audit(tmp_path / "hh", [FIX / "hh_rlhf_sample.jsonl.gz"])
    sides = {k: c.total for k, c in hh.agg.slices("hh_rlhf_sample", "side")}
    assert sides == {"chosen": 7, "rejected": 7}
    stats = read_exchanges(FIX / "hh_rlhf_sample.jsonl.gz").drain().to_dict()
    assert hh.agg.total().total == 7 + stats["differing_by_side"]["rejected"] == 12


def test_columnar_and_hf_inputs_shard_and_report_per_file(tmp_path: Path) -> None:
    rows = [r.data for r in _records(str(FIX / "coconot_responses_sample.jsonl"))]
    pq_path = write_parquet(tmp_path / "coconot.parquet", rows * 4, row_group_size=3)
    hf = write_hf_dict(tmp_path / "hf", {"train": rows * 2, "test": rows})
    res = run_audit(tmp_path / "run", [pq_path, hf], workers=2, shard_bytes=1000)
    files = dict(res.agg.slices("hf", "file"))
    assert set(files) == {os.path.join(str(hf), "train"), os.path.join(str(hf), "test")}
    assert files[os.path.join(str(hf), "train")].total == 10
    assert res.agg.total("coconot").total == 20
    assert res.agg.total("coconot").refusals == 4 * res.agg.total("hf").refusals // 3


def test_limit_audits_the_first_exchanges_of_each_dataset(tmp_path: Path) -> None:
    res = run_audit(tmp_path / "run", [sample("sharegpt"), sample("alpaca")], limit=7)
    assert [res.agg.total(d).total for d in res.agg.datasets] == [7, 7]


def test_rerun_reuses_a_finished_run_and_refuses_a_different_one(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = run_audit(run, [sample("alpaca")])
    again = run_audit(run, [sample("alpaca")])
    assert again.already_complete and report_numbers(run) == report_numbers(run)
    assert again.agg.total().to_dict() == first.agg.total().to_dict()
    with pytest.raises(ConfigError, match="other inputs or settings") as info:
        run_audit(run, [sample("lima")])
    assert "--overwrite" in (info.value.hint or "")
    config = {"detector": "rules", "workers": 1}
    from refusalkit.audit import AuditConfig, audit_data

    res = audit_data(AuditConfig([sample("lima")], **config), run, overwrite=True, progress=False)
    assert res.agg.datasets == ["lima"]


def test_bad_rows_fail_with_position_or_go_to_rejects(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"prompt": "a", "response": "ok"}\n{"prompt": "b", "resp\n{"prompt": "c", "response": "fine"}\n'
    )
    from refusalkit.core.errors import RefusalkitError

    with pytest.raises(RefusalkitError, match="line 2"):
        run_audit(tmp_path / "run", [data], workers=2)
    res = run_audit(tmp_path / "skip", [data], skip_bad=True)
    assert res.agg.total().total == 2
    rejects = Path(res.info["rejects_path"])
    assert rejects.parent == tmp_path / "skip"
    assert json.loads(rejects.read_text())["line"] == 2


def test_opener_normalises_the_first_words() -> None:
    assert (
        opener("As an AI language model, I cannot browse the web.") == "as an ai language model, i"
    )
    assert opener("I\u2019m sorry.  I can't") == "i'm sorry"
    assert opener("") == ""


# ------------------------------------------------------------------- interruption and resume


def _big_input(tmp_path: Path) -> Path:
    rows = [r.data for r in _records(sample("sharegpt"))]
    return write_jsonl(tmp_path / "big.jsonl", rows * 12)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from refusalkit.cli.app import main; main()", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "REFUSALKIT_NO_PROGRESS": "1"}


def _wait_for_first_unit(run: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    parts = run / "work" / "parts"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if parts.is_dir() and any(parts.glob("*.json")):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("no unit finished in time")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_to_the_uninterrupted_result(
    tmp_path: Path, sig: signal.Signals
) -> None:
    data = _big_input(tmp_path)
    args = [str(data), "-d", "rules", "--workers", "2", "--shard-mb", "0.25", "--batch-size", "16"]
    run = tmp_path / "run"
    proc = subprocess.Popen(
        _cli("audit", "data", *args, "-o", str(run)),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _wait_for_first_unit(run, proc)
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, signal.SIGKILL)  # parent and workers, as a crash would
    else:
        proc.send_signal(signal.SIGINT)  # Ctrl-C reaches the parent; workers ignore it
    _out, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert b"rerun the same command to resume" in b" ".join(err.split())
    else:
        assert proc.returncode == -signal.SIGKILL
    plan = json.loads((run / "work" / "plan.json").read_text())
    done_before = {p.stem for p in (run / "work" / "parts").glob("*.json")}
    assert 0 < len(done_before) < len(plan["plan"]["units"]), "the run was not cut mid-way"
    assert not (run / "results.parquet").exists()

    resumed = subprocess.run(
        _cli("audit", "data", *args, "-o", str(run), "--json"),
        env=_env(),
        capture_output=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    info = json.loads((run / "run.json").read_text())
    assert info["timing"]["units_resumed"] >= len(done_before)

    clean = tmp_path / "clean"
    full = subprocess.run(
        _cli("audit", "data", *args, "-o", str(clean)), env=_env(), capture_output=True, timeout=300
    )
    assert full.returncode == 0, full.stderr
    a, b = pq.read_table(run / "results.parquet"), pq.read_table(clean / "results.parquet")
    assert a.num_rows == b.num_rows and a.equals(b)  # no row lost or duplicated
    assert report_numbers(run) == report_numbers(clean)
