"""Reports: untrusted text stays inert, re-rendering matches, aggregation is order-free, diff."""

from __future__ import annotations

import itertools
import json
import random
from html.parser import HTMLParser
from pathlib import Path

import pytest

from audit_helpers import report_numbers, run_audit, sample
from refusalkit.audit import aggregate as agg_mod
from refusalkit.audit.aggregate import AGG_COLUMNS, Aggregate
from refusalkit.audit.diff import diff_runs
from refusalkit.core.errors import ConfigError
from refusalkit.reports.results import iter_results, rerender
from test_readers_formats import write_jsonl

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)> ``` [x](javascript:y) | **b**"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)


def test_model_text_is_escaped_in_every_format(tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "evil.jsonl",
        [
            {"prompt": EVIL, "response": "I'm sorry, but I can't help. " + EVIL},
            {"prompt": "hi", "response": EVIL},
        ],
    )
    run = tmp_path / "run"
    run_audit(run, [data])
    html = (run / "report.html").read_text()
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags and "img" not in parser.tags
    assert "&lt;script&gt;" in html
    md = (run / "report.md").read_text()
    outside, fence = [], None
    for line in md.splitlines():
        if fence is None and line.startswith("```"):
            fence = line[: len(line) - len(line.lstrip("`"))]
        elif fence is not None and line == fence:
            fence = None
        elif fence is None:
            outside.append(line)
    assert EVIL in md  # verbatim, but only inside fenced blocks
    assert "<script>" not in "\n".join(outside)
    assert json.loads((run / "report.json").read_text())["totals"]["refusals"] == 1


def test_report_command_rebuilds_identical_numbers(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_audit(run, [sample("sharegpt"), sample("hh_rlhf"), sample("lima")])
    before = (run / "report.json").read_text()
    (run / "report.json").unlink()
    paths = rerender(run)
    assert paths["json"].read_text() == before
    assert sorted(p.name for p in paths.values()) == ["report.html", "report.json", "report.md"]


def test_aggregation_is_independent_of_chunking_and_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    run_audit(run, [sample("sharegpt"), sample("hh_rlhf")], examples=3)
    rows = list(iter_results(run / "results.parquet", AGG_COLUMNS))
    whole = Aggregate(3)
    whole.add_rows(rows)
    whole.finish()
    # chunks cut at source-row boundaries (as units are), merged in a shuffled order
    bounds = (
        [0]
        + [
            i
            for i in range(1, len(rows))
            if (rows[i]["source_file"], rows[i]["row"])
            != (rows[i - 1]["source_file"], rows[i - 1]["row"])
            and i % 37 == 0
        ]
        + [len(rows)]
    )
    parts = []
    for a, b in itertools.pairwise(bounds):
        part = Aggregate(3)
        part.add_rows(rows[a:b])
        parts.append(part.finish())
    random.Random(0).shuffle(parts)
    merged = Aggregate(3)
    for p in parts:
        merged.merge(Aggregate.from_json(json.loads(json.dumps(p.to_json())), 3))
    merged.datasets = whole.datasets
    for key, c in whole.comps.items():
        assert merged.comps[key].to_dict() == c.to_dict()
    assert merged.pairs == whole.pairs and merged.openers == whole.openers
    assert {k: [h for h, _ in v] for k, v in merged.examples.items()} == {
        k: [h for h, _ in v] for k, v in whole.examples.items()
    }
    assert all(len(v) <= 3 for v in merged.examples.values())
    # bounded memory: past the cap, rare openers are pruned and the count says so
    monkeypatch.setattr(agg_mod, "OPENER_CAP", 5)
    small = Aggregate(1)
    small.add_rows(rows)
    small.finish()
    assert all(len(c) <= 5 for c in small.openers.values())
    assert sum(small.openers_pruned.values()) > 0


def test_diff_flags_real_changes_only(tmp_path: Path) -> None:
    refuse = "I'm sorry, but I can't help with that."
    comply = "Here is a short answer to your question."
    (tmp_path / "v1").mkdir()
    v1 = write_jsonl(
        tmp_path / "v1" / "data.jsonl",
        [{"prompt": f"q{i}", "response": refuse if i % 10 == 0 else comply} for i in range(300)],
    )
    (tmp_path / "v2").mkdir()
    v2 = write_jsonl(
        tmp_path / "v2" / "data.jsonl",
        [{"prompt": f"q{i}", "response": refuse if i % 2 == 0 else comply} for i in range(300)],
    )
    run_audit(tmp_path / "a", [v1])
    run_audit(tmp_path / "b", [v2])
    run_audit(tmp_path / "a2", [v1], workers=2)
    res = diff_runs(tmp_path / "a", tmp_path / "b", tmp_path / "cmp")
    (_a, _b, rows) = res.pairs[0]
    rate = rows[0]
    assert rate["measure"] == "refusal rate" and rate["a"] == 30 and rate["b"] == 150
    assert (
        rate["diff"] == pytest.approx(0.4)
        and rate["low"] < 0.4 < rate["high"]
        and rate["significant"]
    )
    assert (tmp_path / "cmp" / "diff.html").is_file()
    same = diff_runs(tmp_path / "a", tmp_path / "a2")
    assert not any(r["significant"] for r in same.pairs[0][2])
    assert report_numbers(tmp_path / "a") == report_numbers(tmp_path / "a2")
    run_audit(tmp_path / "two", [v1, sample("alpaca")])
    run_audit(tmp_path / "other", [sample("lima"), sample("dolly")])
    with pytest.raises(ConfigError, match="share no dataset"):
        diff_runs(tmp_path / "two", tmp_path / "other")
