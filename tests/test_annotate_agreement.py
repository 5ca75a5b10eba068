"""Agreement statistics of a project equal the core statistics on the same label tables."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from refusalkit.annotate.agreement import (
    agreement_report,
    confusion,
    disagreements,
    reference_labels,
)
from refusalkit.core.stats import (
    cohen_kappa,
    confusion_matrix,
    counts_from_labels,
    fleiss_kappa,
    krippendorff_alpha,
)
from workbench_util import make_project

B = ("full_compliance", "partial_refusal", "full_refusal")
# item -> labels of (alice, bob, carol); None = not labelled
TABLE = {
    0: ("full_refusal", "full_refusal", "full_refusal"),
    1: ("full_refusal", "partial_refusal", "full_refusal"),
    2: ("full_compliance", "full_compliance", "full_compliance"),
    3: ("partial_refusal", "partial_refusal", "full_compliance"),
    4: ("full_compliance", "full_refusal", None),
    5: ("full_refusal", "full_refusal", None),
    6: ("full_compliance", None, None),
    7: ("partial_refusal", "partial_refusal", "partial_refusal"),
}
NAMES = ("alice", "bob", "carol")


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = make_project(tmp_path / "p", scheme="behavior", annotators=NAMES, overlap=3)
    for pos, labels in TABLE.items():
        for name, lab in zip(NAMES, labels, strict=True):
            if lab:
                p.save_label(name, pos, lab, None, f"{name} on {pos}", expected_version=0)
    p.save_label("carol", 8, None, None, expected_version=0, skip=True)  # skips never count
    return p


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)


def test_statistics_match_core(project) -> None:  # type: ignore[no-untyped-def]
    report = agreement_report(project)
    assert report.labels == 20 and report.labelled_items == 8
    assert report.labels_by_annotator == {"alice": 8, "bob": 7, "carol": 5}
    (f,) = report.fields
    assert f.field == "behavior" and f.labels == list(B)
    for pair in f.pairs:
        i, j = NAMES.index(pair.a), NAMES.index(pair.b)
        both = [r for r in TABLE.values() if r[i] and r[j]]
        assert pair.n == len(both)
        assert _same(pair.kappa, cohen_kappa([r[i] for r in both], [r[j] for r in both], list(B)))
    multi = [r for r in TABLE.values() if sum(x is not None for x in r) >= 2]
    assert f.items_multi == len(multi)
    # Fleiss on the items with the most common number of labels (3 here)
    full = [[x for x in r if x] for r in multi if all(r)]
    assert (f.fleiss_items, f.fleiss_raters) == (len(full), 3)
    assert _same(f.fleiss, fleiss_kappa(counts_from_labels(full, list(B))[0]))
    data = [[r[i] for r in multi] for i in range(3)]
    assert _same(f.alpha, krippendorff_alpha(data, "nominal"))
    for cls in f.per_class:
        binary = [["yes" if x == cls.label else "no" for x in r] for r in full]
        assert _same(cls.fleiss, fleiss_kappa(counts_from_labels(binary, ["no", "yes"])[0]))
        bdata = [
            [None if x is None else ("yes" if x == cls.label else "no") for x in row]
            for row in data
        ]
        assert _same(cls.alpha, krippendorff_alpha(bdata, "nominal"))
    assert report.to_dict()["fields"][0]["pairs"][0]["a"] == "alice"


def test_confusion_disagreements_and_reference(project) -> None:  # type: ignore[no-untyped-def]
    conf = confusion(project, "alice", "bob", "behavior")
    both = [r for r in TABLE.values() if r[0] and r[1]]
    assert conf["n"] == len(both)
    assert (
        conf["matrix"]
        == confusion_matrix([r[0] for r in both], [r[1] for r in both], list(B)).tolist()
    )
    assert [d["pos"] for d in disagreements(project)] == [1, 3, 4]
    ref = reference_labels(project)
    assert set(ref) == {0, 2, 5, 6, 7}  # unanimous (incl. single-annotator item 6)
    assert ref[6] == {
        "behavior": "full_compliance",
        "category": None,
        "source": "consensus",
        "n_labels": 1,
    }
    project.set_gold(1, "full_refusal", None, adjudicator="carol", expected_version=0)
    ref = reference_labels(project)
    assert ref[1]["source"] == "adjudicated" and ref[1]["n_labels"] == 3
    assert disagreements(project)[0]["gold"]["adjudicator"] == "carol"


def test_taxonomy_scheme_has_category_agreement(tmp_path: Path) -> None:
    p = make_project(tmp_path / "t", annotators=("alice", "bob"), overlap=2)
    labels = [
        ("full_refusal", "privacy"),
        ("full_refusal", "privacy"),
        ("full_compliance", None),
        ("partial_refusal", "modalities"),
    ]
    other = [
        ("full_refusal", "privacy"),
        ("full_refusal", "legal_compliance"),
        ("full_compliance", None),
        ("full_refusal", "modalities"),
    ]
    for pos, (a, b) in enumerate(zip(labels, other, strict=True)):
        p.save_label("alice", pos, *a, expected_version=0)
        p.save_label("bob", pos, *b, expected_version=0)
    report = agreement_report(p)
    assert [f.field for f in report.fields] == ["behavior", "category"]
    cat = report.fields[1]
    assert cat.labels == [
        "legal_compliance",
        "privacy",
        "modalities",
        "not_refusal",
    ]  # taxonomy order
    assert cat.percent == pytest.approx(0.75)
    assert {c.label for c in cat.per_class} == set(cat.labels)


def test_nothing_labelled_is_undefined_not_an_error(tmp_path: Path) -> None:
    p = make_project(tmp_path / "e", scheme="falsereject", annotators=("alice", "bob"))
    d = agreement_report(p).to_dict()
    f = d["fields"][0]
    assert f["fleiss"] is None and f["alpha"] is None and f["pairs"][0]["kappa"] is None
