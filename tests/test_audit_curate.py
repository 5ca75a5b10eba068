"""Curation writes every format back verbatim minus the removed rows, and lists every removal."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from audit_helpers import FIX, dpo_rows, run_audit, sample
from refusalkit.audit import CurationOptions, curate_run, parse_filter
from refusalkit.core.errors import ConfigError
from refusalkit.readers import iter_records, read_exchanges
from test_readers_formats import gzip_copy, write_hf_dict, write_jsonl, write_parquet

REFUSALS = {"full_refusal", "partial_refusal"}


def _drop(*filters: str, **kw: str) -> CurationOptions:
    return CurationOptions(drop=[parse_filter(f) for f in filters], **kw)


def _keep(*filters: str, **kw: str) -> CurationOptions:
    return CurationOptions(keep=[parse_filter(f) for f in filters], **kw)


def _removed(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]


def test_filter_syntax_and_errors() -> None:
    f = parse_filter("behavior=refusal")
    assert f.values == {"full_refusal", "partial_refusal"}
    assert parse_filter("category=privacy,modalities").values == {"privacy", "modalities"}
    assert parse_filter("group=should-not").values == {"should_not"}
    for bad in ("behaviour=refusal", "category=secrets", "group", "behavior="):
        with pytest.raises(ConfigError) as info:
            parse_filter(bad)
        assert info.value.hint
    assert not f.matches({"behavior": "unjudged"})
    assert parse_filter("group=none").matches({"behavior": "full_refusal", "group": "none"})
    assert not parse_filter("group=none").matches({"behavior": "full_compliance", "group": "none"})


def test_jsonl_gzip_copy_is_verbatim_minus_removed_rows(tmp_path: Path) -> None:
    src = sample("sharegpt")
    res = run_audit(tmp_path / "run", [src], curation=_drop("behavior=refusal"))
    d = res.manifest["datasets"][0]
    out = Path(d["output"])
    assert out.name == "sharegpt.jsonl.gz" and out.read_bytes()[:2] == b"\x1f\x8b"
    with gzip.open(src, "rb") as a, gzip.open(out, "rb") as b:
        original, kept = a.read().splitlines(), b.read().splitlines()
    removed = _removed(tmp_path / "run" / "curated")
    gone = {r["row"] for r in removed}
    assert kept == [line for i, line in enumerate(original) if i not in gone]
    assert d["rows"] == len(original) == d["kept"] + d["removed"] and d["removed"] == len(removed)
    assert all(any(t["behavior"] in REFUSALS for t in r["turns"]) for r in removed)
    assert d["removed_by_reason"] == {"--drop behavior=refusal": len(removed)}
    # re-auditing the curated copy finds no refusal left
    again = run_audit(tmp_path / "again", [out])
    assert again.agg.total().refusals == 0
    assert again.agg.total().judged + again.agg.total().unjudged == sum(
        1 for ex in read_exchanges(out)
    )


def test_json_csv_and_wrapper_objects_keep_their_format(tmp_path: Path) -> None:
    inputs = [
        sample("alpaca"),
        FIX / "xstest_completions_sample.csv",
        FIX / "uncensorbench_sample.json",
    ]
    run = tmp_path / "run"
    res = run_audit(run, inputs, curation=_drop("behavior=full_refusal"))
    by = {d["dataset"]: d for d in res.manifest["datasets"]}
    alp = json.loads(Path(by["alpaca"]["output"]).read_text())
    assert isinstance(alp, list) and len(alp) == by["alpaca"]["kept"]
    csv_out = Path(by["xstest_completions_sample"]["output"])
    csv_in = (FIX / "xstest_completions_sample.csv").read_bytes()
    assert csv_out.read_bytes().split(b"\n", 1)[0] == csv_in.split(b"\n", 1)[0]  # header as it was
    kept_rows = [r.data for r in iter_records(csv_out)]
    assert len(kept_rows) == by["xstest_completions_sample"]["kept"]
    wrapped = json.loads(Path(by["uncensorbench_sample"]["output"]).read_text())
    original = json.loads((FIX / "uncensorbench_sample.json").read_text())
    assert set(wrapped) == set(original)  # the wrapper's other keys survive
    assert len(wrapped["prompts"]) == by["uncensorbench_sample"]["kept"]
    total = sum(d["removed"] for d in res.manifest["datasets"])
    assert total == len(_removed(run / "curated")) > 0


def test_parquet_and_hf_folders(tmp_path: Path) -> None:
    rows = [r.data for r in iter_records(FIX / "coconot_responses_sample.jsonl")]
    pq_in = write_parquet(tmp_path / "c.parquet", rows * 2, row_group_size=3)
    hf = write_hf_dict(tmp_path / "hf", {"train": rows, "test": rows[:2]})
    res = run_audit(tmp_path / "run", [pq_in, hf], curation=_drop("behavior=refusal"))
    by = {d["dataset"]: d for d in res.manifest["datasets"]}
    out = pq.read_table(by["c"]["output"])
    assert out.schema.equals(pq.read_schema(pq_in)) and out.num_rows == by["c"]["kept"] < 10
    hf_out = Path(by["hf"]["output"])
    assert (hf_out / "dataset_dict.json").is_file()
    again = run_audit(tmp_path / "again", [hf_out])
    assert again.agg.total().refusals == 0 and again.agg.total().total == by["hf"]["kept"]


def test_preference_sides_turns_and_keep(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", dpo_rows())
    run = tmp_path / "run"
    run_audit(run, [data])
    any_side = curate_run(run, _drop("behavior=refusal"), tmp_path / "any")
    chosen = curate_run(run, _drop("behavior=refusal", side="chosen"), tmp_path / "chosen")
    keep = curate_run(run, _keep("behavior=refusal", side="rejected"), tmp_path / "keep")

    def ids(manifest: dict) -> list[str]:
        out = Path(manifest["datasets"][0]["output"])
        return [json.loads(x)["id"] for x in out.read_text().splitlines()]

    assert ids(any_side) == ["p2", "p4"]
    assert ids(chosen) == ["p0", "p2", "p4"]
    assert ids(keep) == ["p0", "p3"]
    reasons = {r["row"]: r["reason"] for r in _removed(tmp_path / "keep")}
    assert reasons[1] == "--keep: no turn matched"
    # HH-RLHF multi-turn rows: --turns final looks at the last turn of each side only
    hh = tmp_path / "hh"
    run_audit(hh, [FIX / "hh_rlhf_sample.jsonl.gz"])
    final = curate_run(hh, _keep("behavior=full_compliance", turns="final"), tmp_path / "final")
    assert final["totals"]["rows"] == 5
    assert final["totals"]["kept"] + final["totals"]["removed"] == 5


def test_unreadable_rows_are_removed_and_listed(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"prompt": "a", "response": "ok"}\n{"prompt": "b", "resp\n\n{"prompt": "c", "response": "fine"}\n'
    )
    res = run_audit(tmp_path / "run", [data], skip_bad=True, curation=_drop("category=privacy"))
    d = res.manifest["datasets"][0]
    assert (d["rows"], d["kept"], d["removed"]) == (3, 2, 1)
    (entry,) = _removed(tmp_path / "run" / "curated")
    assert entry["reason"] == "unreadable row (rejected by the reader)" and entry["line"] == 2
    assert Path(d["output"]).read_text().splitlines() == [
        '{"prompt": "a", "response": "ok"}',
        '{"prompt": "c", "response": "fine"}',
    ]


def test_curation_refuses_partial_or_changed_audits(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "response": "sure"}] * 3)
    run_audit(tmp_path / "lim", [data], limit=2)
    with pytest.raises(ConfigError, match="--limit"):
        curate_run(tmp_path / "lim", _drop("behavior=refusal"))
    run_audit(tmp_path / "run", [data])
    gz = gzip_copy(data, tmp_path / "other.gz")
    data.write_bytes(gz.read_bytes()[:0] + b'{"prompt": "x", "response": "y"}\n')
    with pytest.raises(ConfigError, match="changed since it was audited"):
        curate_run(tmp_path / "run", _drop("behavior=refusal"))
