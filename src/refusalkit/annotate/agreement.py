"""Agreement between annotators, disagreements, and the effective gold label of each item.

All statistics come from `refusalkit.core.agreement` (imported through `core.stats`) (one implementation for the whole
project). This module only arranges the project's labels into the tables those functions
take:

- Cohen's kappa for every pair of annotators, over the items both labelled.
- Fleiss' kappa over the items that have the most common number (>= 2) of labels, since
  Fleiss needs the same number of ratings per item; the items used are reported.
- Krippendorff's alpha (nominal) over every item with >= 2 labels (missing labels allowed).
- Per class, one-vs-rest: each label becomes "is this class / is not", and Fleiss' kappa
  and alpha are computed on that binary table, which shows *which* categories people
  agree on.

Skipped items are not labels and never count.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any

from refusalkit.core.stats import (
    cohen_kappa,
    confusion_matrix,
    counts_from_labels,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)

if TYPE_CHECKING:
    from refusalkit.annotate.store import Project


@dataclass(slots=True)
class PairStat:
    a: str
    b: str
    n: int
    kappa: float
    percent: float


@dataclass(slots=True)
class ClassStat:
    label: str
    ratings: int  # how many labels gave this class
    fleiss: float
    alpha: float


@dataclass(slots=True)
class FieldAgreement:
    """Agreement on one field (`behavior` or `category`)."""

    field: str
    labels: list[str]
    items_multi: int  # items with >= 2 labels
    percent: float  # mean pairwise agreement over those items
    fleiss: float
    fleiss_items: int
    fleiss_raters: int
    alpha: float
    pairs: list[PairStat] = dc_field(default_factory=list)
    per_class: list[ClassStat] = dc_field(default_factory=list)


@dataclass(slots=True)
class AgreementReport:
    annotators: list[str]
    items: int
    labelled_items: int
    labels: int
    labels_by_annotator: dict[str, int]
    fields: list[FieldAgreement]

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


def _clean(obj: Any) -> Any:
    """NaN → None so the JSON is valid and says 'undefined' plainly."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def fields_of(project: Project) -> list[str]:
    return ["behavior", "category"] if project.scheme.has_category else ["behavior"]


def label_table(project: Project, field_name: str) -> dict[int, dict[str, str]]:
    """item pos → {annotator: value} for one field (only made labels)."""
    table: dict[int, dict[str, str]] = {}
    for lab in project.all_labels():
        value = getattr(lab, field_name)
        if value is not None:
            table.setdefault(lab.pos, {})[lab.annotator] = value
    return table


def _classes(project: Project, field_name: str, seen: set[str]) -> list[str]:
    scheme = project.scheme
    known = scheme.behavior_values if field_name == "behavior" else scheme.category_values
    return [v for v in known if v in seen] + sorted(seen - set(known))


def field_agreement(
    project: Project, field_name: str, annotators: list[str] | None = None
) -> FieldAgreement:
    table = label_table(project, field_name)
    annotators = annotators if annotators is not None else project.annotators()
    multi = {pos: row for pos, row in table.items() if len(row) >= 2}
    seen = {v for row in table.values() for v in row.values()}
    classes = _classes(project, field_name, seen)
    positions = sorted(multi)

    pairs = []
    for a, b in itertools.combinations(annotators, 2):
        both = [p for p in positions if a in multi[p] and b in multi[p]]
        xa = [multi[p][a] for p in both]
        xb = [multi[p][b] for p in both]
        pairs.append(
            PairStat(
                a,
                b,
                len(both),
                cohen_kappa(xa, xb, classes) if both else float("nan"),
                percent_agreement(xa, xb) if both else float("nan"),
            )
        )

    # Fleiss: items with the most common number of labels (ties: the larger number)
    counts = Counter(len(multi[p]) for p in positions)
    m = max(counts, key=lambda k: (counts[k], k)) if counts else 0
    fleiss_pos = [p for p in positions if len(multi[p]) == m]

    def fleiss_of(rows: list[list[str]], cats: list[str]) -> float:
        if not rows:
            return float("nan")
        matrix, _ = counts_from_labels(rows, cats)
        return fleiss_kappa(matrix)

    def alpha_of(convert: Any) -> float:
        if not positions:
            return float("nan")
        data = [[convert(multi[p].get(a)) for p in positions] for a in annotators]
        return krippendorff_alpha(data, "nominal")

    fleiss_rows = [list(multi[p].values()) for p in fleiss_pos]
    per_class = []
    if len(classes) > 1:
        for c in classes:
            binary = [["yes" if v == c else "no" for v in row] for row in fleiss_rows]
            per_class.append(
                ClassStat(
                    c,
                    sum(v == c for row in table.values() for v in row.values()),
                    fleiss_of(binary, ["no", "yes"]),
                    alpha_of(lambda v, c=c: None if v is None else ("yes" if v == c else "no")),
                )
            )
    pair_values = [
        (x, y) for p in positions for x, y in itertools.combinations(sorted(multi[p].items()), 2)
    ]
    percent = (
        sum(x[1] == y[1] for x, y in pair_values) / len(pair_values)
        if pair_values
        else float("nan")
    )
    return FieldAgreement(
        field=field_name,
        labels=classes,
        items_multi=len(positions),
        percent=percent,
        fleiss=fleiss_of(fleiss_rows, classes),
        fleiss_items=len(fleiss_pos),
        fleiss_raters=m,
        alpha=alpha_of(lambda v: v),
        pairs=pairs,
        per_class=per_class,
    )


def agreement_report(project: Project) -> AgreementReport:
    labels = project.all_labels()
    annotators = project.annotators()
    return AgreementReport(
        annotators=annotators,
        items=project.n_items(),
        labelled_items=len({lab.pos for lab in labels}),
        labels=len(labels),
        labels_by_annotator={a: sum(lab.annotator == a for lab in labels) for a in annotators},
        fields=[field_agreement(project, f, annotators) for f in fields_of(project)],
    )


def confusion(project: Project, a: str, b: str, field_name: str) -> dict[str, Any]:
    """Confusion table between two annotators on the items both labelled."""
    table = label_table(project, field_name)
    both = sorted(p for p, row in table.items() if a in row and b in row)
    xa = [table[p][a] for p in both]
    xb = [table[p][b] for p in both]
    classes = _classes(project, field_name, set(xa) | set(xb))
    matrix = confusion_matrix(xa, xb, classes).tolist() if both else []
    return {
        "a": a,
        "b": b,
        "field": field_name,
        "labels": classes,
        "matrix": matrix,
        "n": len(both),
    }


def disagreements(project: Project) -> list[dict[str, Any]]:
    """Items whose labels differ (on any field), with everyone's label and the gold state."""
    by_item: dict[int, list[Any]] = {}
    for lab in project.all_labels():
        by_item.setdefault(lab.pos, []).append(lab)
    gold = project.gold()
    out = []
    for pos, labs in sorted(by_item.items()):
        if len({(lab.behavior, lab.category) for lab in labs}) > 1:
            out.append({"pos": pos, "labels": labs, "gold": gold.get(pos)})
    return out


def reference_labels(project: Project) -> dict[int, dict[str, Any]]:
    """The effective gold label of every item that has one.

    An adjudicated gold label wins; otherwise the label every annotator of the item gave
    (`consensus`, which includes items with a single annotator). Items whose annotators
    disagree and that have not been adjudicated have no reference label.
    """
    out: dict[int, dict[str, Any]] = {}
    by_item: dict[int, list[Any]] = {}
    for lab in project.all_labels():
        by_item.setdefault(lab.pos, []).append(lab)
    for pos, labs in by_item.items():
        distinct = {(lab.behavior, lab.category) for lab in labs}
        if len(distinct) == 1:
            behavior, category = distinct.pop()
            out[pos] = {
                "behavior": behavior,
                "category": category,
                "source": "consensus",
                "n_labels": len(labs),
            }
    for pos, g in project.gold().items():
        out[pos] = {
            "behavior": g["behavior"],
            "category": g["category"],
            "source": "adjudicated",
            "n_labels": len(by_item.get(pos, [])),
        }
    return out
