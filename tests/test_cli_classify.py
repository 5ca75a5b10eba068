"""`refusalkit classify / train / evaluate`: the output contract and JSON summaries."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from refusalkit.cli.app import app
from refusalkit.core.io import iter_jsonl
from refusalkit.core.models import Exchange

FX = Path(__file__).parent / "fixtures" / "classifier"
runner = CliRunner()


def _run(*args: str):  # type: ignore[no-untyped-def]
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res


def test_classify_output_contract(tmp_path: Path) -> None:
    out = tmp_path / "v.jsonl"
    res = _run("classify", str(FX / "coconot_sample.jsonl"), "-o", str(out), "--json")
    summary = json.loads(res.stdout)
    rows = list(iter_jsonl(out))
    assert summary["exchanges"] == len(rows) == 28
    r = rows[0]
    for key in (
        "id",
        "prompt",
        "response",
        "behavior",
        "refusal_score",
        "category",
        "category_scores",
        "group",
        "detector",
        "subcategory",
        "is_refusal",
    ):
        assert key in r, key
    assert r["input_category"]  # CoCoNot's own `category` column is kept, not overwritten
    assert r["detector"] == "default"
    assert sum(x["behavior"] != "full_compliance" for x in rows) >= 20


def test_classify_fields_rules_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    _run(
        "classify",
        str(FX / "xstest_sample.csv"),
        "-o",
        str(out),
        "--detector",
        "rules",
        "--response-field",
        "completion",
        "--limit",
        "10",
        "--json",
    )
    rows = list(iter_jsonl(out))
    assert len(rows) == 10 and rows[0]["detector"] == "rules" and "final_label" in rows[0]
    res = _run(
        "classify",
        str(FX / "xstest_sample.csv"),
        "-o",
        str(out),
        "--detector",
        "rules",
        "--response-field",
        "completion",
        "--resume",
        "--json",
    )
    assert json.loads(res.stdout)["skipped_already_done"] == 10
    assert len(list(iter_jsonl(out))) == 40


def test_classify_parallel_matches_serial(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _run(
        "classify",
        str(FX / "heldout.jsonl"),
        "-o",
        str(a),
        "--batch-size",
        "16",
        "--workers",
        "2",
        "--json",
    )
    _run("classify", str(FX / "heldout.jsonl"), "-o", str(b), "--workers", "1", "--json")
    assert list(iter_jsonl(a)) == list(iter_jsonl(b))


def test_classify_bad_detector_is_a_user_error(tmp_path: Path) -> None:
    from refusalkit.cli.app import main  # noqa: F401  (the console entry maps errors to exit 2)

    res = runner.invoke(
        app,
        [
            "classify",
            str(FX / "alpaca_sample.json"),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--detector",
            str(tmp_path / "missing"),
        ],
    )
    assert res.exit_code != 0


def test_evaluate_side_by_side_json(tmp_path: Path) -> None:
    res = _run(
        "evaluate",
        str(FX / "xstest_sample.csv"),
        "--response-field",
        "completion",
        "--behavior-field",
        "final_label",
        "-d",
        "default",
        "-d",
        "rules",
        "--reference",
        "gpt4_label",
        "--reference",
        "strmatch_label",
        "--bootstrap",
        "50",
        "--json",
    )
    rep = json.loads(res.stdout)
    assert set(rep["detectors"]) == {"default", "rules", "ref:gpt4_label", "ref:strmatch_label"}
    b3 = rep["detectors"]["default"]["behavior3"]
    assert b3["n"] == 40 and b3["accuracy"] >= 0.8 and "accuracy_ci" in b3
    res = _run(
        "evaluate",
        str(FX / "coconot_sample.jsonl"),
        "--behavior-field",
        "is_refusal",
        "--category-field",
        "subcategory",
        "--category-map",
        "coconot",
        "--bootstrap",
        "0",
    )
    assert "category" in res.stdout and "group" in res.stdout


def test_train_then_evaluate(tmp_path: Path) -> None:
    model = tmp_path / "m"
    res = _run(
        "train",
        str(FX / "xstest_sample.csv"),
        "--response-field",
        "completion",
        "--behavior-field",
        "final_label",
        "-o",
        str(model),
        "--test-size",
        "0.3",
        "--json",
    )
    summary = json.loads(res.stdout)
    assert summary["train_rows"] + summary["test_rows"] == 40
    assert (model / "detector.json").is_file() and (model / "MODEL_CARD.md").is_file()
    res = _run(
        "evaluate",
        str(FX / "xstest_sample.csv"),
        "--response-field",
        "completion",
        "--behavior-field",
        "final_label",
        "-d",
        str(model),
        "--bootstrap",
        "0",
        "--json",
    )
    assert json.loads(res.stdout)["detectors"][str(model)]["binary"]["n"] == 40


def test_classify_skip_bad_passthrough(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(
        '{"id": "a", "prompt": "hi", "response": "Hello!"}\n'
        "{not json\n"
        '{"id": "b", "prompt": "bomb?", "response": "Sorry, but I can\'t assist with that."}\n'
    )
    out = tmp_path / "o.jsonl"
    res = _run(
        "classify",
        str(src),
        "-o",
        str(out),
        "--skip-bad",
        "--rejects",
        str(tmp_path / "rej.jsonl"),
        "--json",
    )
    summary = json.loads(res.stdout)
    assert summary["reader"]["rejected"] == 1 and summary["exchanges"] == 2
    assert [r["behavior"] for r in iter_jsonl(out)] == ["full_compliance", "full_refusal"]
    assert (tmp_path / "rej.jsonl").is_file()


def test_evaluate_missing_label_column_names_it() -> None:
    from refusalkit.core.errors import DataError

    res = runner.invoke(
        app,
        [
            "evaluate",
            str(FX / "coconot_sample.jsonl"),
            "--behavior-field",
            "final_label",
            "--bootstrap",
            "0",
        ],
    )
    assert res.exit_code != 0 and isinstance(res.exception, DataError)
    assert "final_label" in str(res.exception) and "--behavior-field" in str(res.exception)


def test_classify_stream_workers_keep_order_past_the_warm_up_rows() -> None:
    """Batches larger than the rows warmed in the parent: the first batch is split between
    the parent and the pool, and the output is still in input order, equal to serial."""
    from refusalkit.detectors.registry import load_detector
    from refusalkit.detectors.runner import WARM_ROWS, classify_stream
    from refusalkit.readers import read_exchanges

    rows = list(read_exchanges(FX / "heldout.jsonl"))
    exchanges = [
        Exchange(id=f"{k}-{e.id}", prompt=e.prompt, response=e.response)
        for k in range(6)
        for e in rows
    ]
    batch = WARM_ROWS + 172
    assert len(exchanges) >= 4 * batch  # enough batches for the worker pool to start
    det = load_detector("default")
    par = list(classify_stream(exchanges, det, batch_size=batch, workers=2))
    ser = list(classify_stream(exchanges, det, batch_size=batch, workers=1))
    assert [e.id for e, _ in par] == [e.id for e in exchanges]
    assert [v.to_dict() for _, v in par] == [v.to_dict() for _, v in ser]
