"""Model versus human: a detector or a saved run compared with the reference labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from refusalkit.annotate import model_eval
from refusalkit.core.errors import ConfigError
from refusalkit.core.stats import cohen_kappa
from workbench_util import make_project


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = make_project(tmp_path / "p", scheme="behavior", annotators=("alice",), overlap=1, n=10)
    for pos in range(10):
        ex = p.item(pos)
        refuses = ex.response.startswith(("I'm sorry", "I cannot", "As an AI"))
        p.save_label(
            "alice", pos, "full_refusal" if refuses else "full_compliance", None, expected_version=0
        )
    return p


def test_rules_detector_against_gold(project) -> None:  # type: ignore[no-untyped-def]
    preds = model_eval.detector_predictions(project, "rules")
    assert set(preds) == set(range(10))
    assert project.predictions("detector:rules") == preds  # cached in the project
    result = model_eval.compare(project, preds)
    f = result["fields"]["behavior"]
    gold = [project.label(p, "alice").behavior for p in range(10)]
    judged = [p for p in range(10) if preds[p][0]]
    assert f["n"] == len(judged)
    expected = cohen_kappa([gold[p] for p in judged], [preds[p][0] for p in judged], f["labels"])
    assert f["kappa"] == pytest.approx(expected)
    assert sum(map(sum, f["confusion"])) == len(judged)
    assert result["n_disagreements"] == sum(gold[p] != preds[p][0] for p in judged)
    assert 0.0 <= f["accuracy_ci"][0] <= f["accuracy"] <= f["accuracy_ci"][1] <= 1.0


def test_saved_run_is_matched_by_id(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from refusalkit.reports.results import ResultsWriter, new_run_info, write_run_json

    run = tmp_path / "run"
    with ResultsWriter(run / "results.parquet", {"model": "string"}) as w:
        for pos in range(10):
            item_id = project.item(pos).id
            gold = project.label(pos, "alice").behavior
            for model, behavior in (("good", gold), ("bad", "full_refusal")):
                w.write({"id": item_id, "behavior": behavior, "model": model})
        w.write({"id": "not-in-project", "behavior": "full_refusal", "model": "good"})
        w.write(
            {
                "id": project.item(0).id,
                "behavior": "unjudged",
                "unjudged_reason": "timeout",
                "model": "odd",
            }
        )
    write_run_json(run, new_run_info("audit-model"))
    assert model_eval.run_models(run) == ["bad", "good", "odd"]
    good = model_eval.compare(project, model_eval.run_predictions(project, run, "good"))
    assert good["fields"]["behavior"]["accuracy"] == 1.0 and good["n_disagreements"] == 0
    bad = model_eval.compare(project, model_eval.run_predictions(project, run, "bad"))
    assert bad["n_disagreements"] == sum(
        project.label(p, "alice").behavior != "full_refusal" for p in range(10)
    )
    odd = model_eval.compare(project, model_eval.run_predictions(project, run, "odd"))
    assert (odd["predicted"], odd["unjudged"], odd["fields"]["behavior"]["n"]) == (1, 1, 0)
    with pytest.raises(ConfigError):
        model_eval.run_predictions(project, tmp_path)
