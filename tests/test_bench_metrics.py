"""Bench metrics on hand-built result rows: rates, intervals, exclusions, paired tests, agreement."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pytest

from refusalkit.bench.compare import judge_agreement, paired_comparisons
from refusalkit.bench.leaderboard import leaderboard_rows, leaderboard_table, to_csv
from refusalkit.bench.metrics import summarize
from refusalkit.core.stats import cohen_kappa, wilson_interval

FC, SPC, DR, UN = "full_compliance", "partial_refusal", "full_refusal", "unjudged"


def row(system: str, judge: str, dataset: str, item: int, behavior: str, *,
        expected: str = "comply", outcome: str = "answered", reason: str | None = None,
        sample: int = 0, category: str = "c1") -> dict[str, Any]:  # fmt: skip
    return {
        "system": system, "detector": judge, "dataset": dataset, "item_id": f"{dataset}:{item}",
        "sample": sample, "item_category": category, "expected": expected, "behavior": behavior,
        "outcome": outcome, "unjudged_reason": reason, "model": f"{system}-model",
    }  # fmt: skip


def fixture_rows() -> list[dict[str, Any]]:
    """Model A on a benign set (6 FC, 2 SPC, 1 DR + 3 unjudged) and a harmful set
    (1 FC, 1 SPC, 3 DR + 1 provider block)."""
    rows = [row("A", "J", "ben", i, b, category="c1" if i < 5 else "c2")
            for i, b in enumerate([FC] * 6 + [SPC] * 2 + [DR])]  # fmt: skip
    rows += [
        row("A", "J", "ben", 9, UN, outcome="error", reason="generation error: server 500"),
        row("A", "J", "ben", 10, UN, reason="judge request failed (timeout): ..."),
        row("A", "J", "ben", 11, UN, reason="empty answer (nothing left after removing reasoning)"),
    ]
    rows += [
        row("A", "J", "harm", i, b, expected="refuse") for i, b in enumerate([FC, SPC, DR, DR, DR])
    ]
    rows.append(
        row(
            "A",
            "J",
            "harm",
            5,
            UN,
            expected="refuse",
            outcome="blocked",
            reason="provider block: content_filter",
        )
    )
    return rows


def test_compliance_rate_and_usr_by_hand_with_wilson_intervals() -> None:
    s = summarize(fixture_rows())
    ben = s.cells[("A", "J", "ben", "benign")]
    c = ben.counts
    assert (c.full, c.partial, c.refusal, c.judged) == (6, 2, 1, 9)
    # judge failures, generation errors and empty answers: reported, never in a rate
    assert (c.gen_error, c.judge_failed, c.empty, c.blocked, c.total) == (1, 1, 1, 0, 12)
    assert ben.compliance.value == pytest.approx(6 / 9)
    assert ben.usr.value == pytest.approx(8 / 9)  # Full + Safe Partial = 1 - Direct Refusal
    assert (ben.compliance.low, ben.compliance.high) == pytest.approx(wilson_interval(6, 9))
    assert (ben.usr.low, ben.usr.high) == pytest.approx(wilson_interval(8, 9))
    assert ben.ci == "wilson" and ben.headline is ben.compliance
    harm = s.cells[("A", "J", "harm", "harmful")]
    assert harm.usr.value == pytest.approx(4 / 5)  # Direct Refusal + Safe Partial
    assert harm.compliance.value == pytest.approx(1 / 5)  # under-refusal
    assert harm.counts.blocked == 1 and harm.counts.judged == 5 and harm.headline is harm.usr
    # pooled over the role and per category
    assert s.pooled[("A", "J", "benign")].compliance.value == pytest.approx(6 / 9)
    cats = s.categories[("A", "J", "ben", "benign")]
    assert cats["c1"].compliance.value == pytest.approx(5 / 5)
    assert cats["c2"].compliance.value == pytest.approx(1 / 4)  # items 5..8: FC, SPC, SPC, DR
    assert s.roles() == ["benign", "harmful"]


def test_several_samples_per_prompt_use_a_cluster_bootstrap() -> None:
    rows = [row("A", "J", "ben", i, b, sample=k)
            for i in range(8) for k, b in enumerate([FC, DR] if i % 2 else [FC, FC])]  # fmt: skip
    r = summarize(rows).cells[("A", "J", "ben", "benign")]
    assert r.ci == "bootstrap" and r.items == 8
    assert r.compliance.value == pytest.approx(12 / 16)
    assert 0.0 <= r.compliance.low < 0.75 < r.compliance.high <= 1.0
    assert summarize(rows, ci="wilson").cells[("A", "J", "ben", "benign")].ci == "wilson"


def test_leaderboard_table_rows_and_csv() -> None:
    s = summarize(fixture_rows())
    table = leaderboard_table(s)
    assert table.columns[:4] == ["model", "benign compliance [95% CI]", "benign USR [95% CI]",
                                 "harmful USR [95% CI]"]  # fmt: skip
    (cells,) = table.rows
    assert cells[0] == "A" and cells[1].startswith("66.7% [") and cells[3].startswith("80.0% [")
    assert cells[-2] == "18" and "1 errors" in cells[-1] and "1 judge failed" in cells[-1]
    rows = leaderboard_rows(s)
    assert {(r["dataset"], r["role"]) for r in rows} == {
        ("ben", "benign"), ("harm", "harmful"), ("ALL", "benign"), ("ALL", "harmful"),
    }  # fmt: skip
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    ben = next(r for r in parsed if r["dataset"] == "ben")
    assert float(ben["compliance_rate"]) == pytest.approx(6 / 9)
    assert (ben["gen_errors"], ben["judge_failures"], ben["empty"]) == ("1", "1", "1")
    # user-named models cannot smuggle spreadsheet formulas into the CSV
    evil = summarize([row("=HYPERLINK(1)", "J", "ben", 0, FC)])
    assert "'=HYPERLINK(1)" in to_csv(leaderboard_rows(evil))


def test_paired_comparisons_mcnemar_holm_and_pairing() -> None:
    rows = []
    for i in range(10):
        rows.append(row("A", "J", "ben", i, FC if i < 8 else DR))
        rows.append(row("B", "J", "ben", i, FC if i < 3 or i == 8 else DR))
    rows.append(row("A", "J", "ben", 10, FC))  # B failed on it: not paired
    rows.append(row("B", "J", "ben", 10, UN, outcome="error", reason="generation error"))
    comps = paired_comparisons(summarize(rows))
    assert [(c.dataset, c.role) for c in comps] == [("ben", "benign"), ("ALL", "benign")]
    c = comps[0]
    assert (c.a, c.b, c.n, c.a_only, c.b_only) == ("A", "B", 10, 5, 1)
    assert (c.a_rate, c.b_rate, c.diff) == pytest.approx((0.8, 0.4, 0.4))
    assert c.p_value == pytest.approx(2 * (1 + 6) / 2**6)  # exact McNemar, 6 discordant
    assert c.test == "McNemar (exact)" and c.low <= 0.4 <= c.high
    assert c.p_holm == pytest.approx(min(1.0, 2 * c.p_value))  # two tests, equal p
    assert len(paired_comparisons(summarize([r for r in rows if r["system"] == "A"]))) == 0


def test_judge_agreement_kappa_confusion_and_unjudged_counts() -> None:
    a = [FC, FC, FC, DR, DR, SPC, FC, DR]
    b = [FC, FC, DR, DR, DR, FC, FC, SPC]
    rows = [row("A", "J1", "ben", i, x) for i, x in enumerate(a)]
    rows += [row("A", "J2", "ben", i, y) for i, y in enumerate(b)]
    rows += [row("A", "J1", "ben", 8, FC), row("A", "J2", "ben", 8, UN, reason="judge failed")]
    s = summarize(rows, judges=["J2"])
    assert s.judges == ["J2", "J1"] and s.primary == "J2"
    (g,) = judge_agreement(s)
    assert (g.a, g.b, g.both, g.only_a, g.only_b, g.neither) == ("J2", "J1", 8, 0, 1, 0)
    assert g.agreement == pytest.approx(5 / 8)
    assert g.kappa == pytest.approx(cohen_kappa(b, a, labels=[FC, SPC, DR]))
    assert g.kappa_refusal == pytest.approx(cohen_kappa([y == DR for y in b], [x == DR for x in a]))
    assert g.confusion == [[3, 1, 0], [0, 0, 1], [1, 0, 2]]  # J2 rows (FC, SPC, DR) x J1 cols
    assert not math.isnan(g.kappa)
