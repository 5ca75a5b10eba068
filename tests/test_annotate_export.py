"""Exports are read back by the dataset readers with the labels where train/evaluate look."""

from __future__ import annotations

from pathlib import Path

import pytest

from refusalkit.annotate.export import export, export_chunks
from refusalkit.core.errors import ConfigError
from refusalkit.readers import read_exchanges
from workbench_util import make_project


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = make_project(tmp_path / "p", annotators=("alice", "bob"), overlap=2, n=6)
    p.save_label("alice", 0, "full_refusal", "privacy", 'says "no", <b>x</b>', expected_version=0)
    p.save_label("bob", 0, "full_refusal", "privacy", expected_version=0)
    p.save_label("alice", 1, "full_compliance", None, expected_version=0)
    p.save_label("bob", 1, "partial_refusal", "modalities", expected_version=0)
    p.save_label("alice", 2, "partial_refusal", "no_reason", expected_version=0)
    p.set_gold(
        1,
        "partial_refusal",
        "modalities",
        adjudicator="alice",
        expected_version=0,
        comment="bob is right",
    )
    return p


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_gold_export_round_trips(project, tmp_path: Path, suffix: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / f"gold.{suffix}"
    assert export(project, out) == 3
    with read_exchanges(str(out)) as stream:
        exchanges = list(stream)
    assert stream.stats.files[str(out)].shape == "prompt_response"
    by_id = {ex.id: ex for ex in exchanges}
    assert set(by_id) == {"item-0", "item-1", "item-2"}
    one = by_id["item-1"]
    assert one.prompt == project.item(1).prompt and one.response == project.item(1).response
    assert (
        one.metadata["behavior"] == "partial_refusal" and one.metadata["category"] == "modalities"
    )
    assert one.metadata["gold"] == "adjudicated" and one.metadata["comment"] == "bob is right"
    assert by_id["item-0"].metadata["gold"] == "consensus"
    assert by_id["item-2"].metadata["label"] == "Partial refusal · No reason given"


def test_labels_export_has_one_row_per_label(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "labels.csv"
    assert export(project, out, kind="labels") == 5
    with read_exchanges(str(out)) as stream:
        exchanges = list(stream)
    assert sorted((e.metadata["annotator"], e.id) for e in exchanges)[0] == ("alice", "item-0")
    assert exchanges[0].metadata["comment"] == 'says "no", <b>x</b>'
    assert export(project, tmp_path / "a.jsonl", kind="labels", annotator="bob") == 2
    with pytest.raises(ConfigError):
        export(project, tmp_path / "x.jsonl", kind="labels", annotator="nobody")
    with pytest.raises(ConfigError):
        export(project, tmp_path / "x.txt", fmt="xml")
    assert not list(tmp_path.glob(".x.*"))  # no temporary file left behind


def test_labels_parse_as_training_labels(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    labels = pytest.importorskip("refusalkit.detectors.labels")
    out = tmp_path / "gold.jsonl"
    export(project, out)
    with read_exchanges(str(out)) as stream:
        for ex in stream:
            assert labels.parse_behavior(ex.metadata["behavior"]) == ex.metadata["behavior"]


def test_download_chunks_equal_the_file(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"g.{fmt}"
        export(project, out)
        assert b"".join(export_chunks(project, "gold", fmt)) == out.read_bytes()
