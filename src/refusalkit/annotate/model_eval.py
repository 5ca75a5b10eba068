"""Model versus human: how well a detector (or a saved run) agrees with the gold labels.

The reference is `agreement.reference_labels` (adjudicated gold, else the annotators'
consensus). Predictions come either from running a detector spec through
`detectors.registry.load_detector` on the reference items (cached in the project's
`predictions` table, so a page reload does not re-run an LLM judge), or from a run
folder's `results.parquet`, matched to the project's items by exchange id. Unjudged
predictions are counted apart, never as agreement or disagreement.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refusalkit.annotate.agreement import reference_labels
from refusalkit.core.errors import ConfigError
from refusalkit.core.stats import classification_report, cohen_kappa, proportion_ci

if TYPE_CHECKING:
    from refusalkit.annotate.store import Project

Prediction = tuple[str | None, str | None, str | None]  # behavior, category, unjudged_reason


def detector_predictions(
    project: Project, spec: str, *, refresh: bool = False
) -> dict[int, Prediction]:
    """Predictions of a detector for every item with a reference label (cached)."""
    from refusalkit.detectors.registry import load_detector

    source = f"detector:{spec}"
    cached = {} if refresh else project.predictions(source)
    wanted = sorted(reference_labels(project))
    missing = [p for p in wanted if p not in cached]
    if missing:
        detector = load_detector(spec)
        exchanges = [project.item(p) for p in missing]
        verdicts = detector.predict([ex for ex in exchanges if ex is not None])
        for pos, v in zip(missing, verdicts, strict=True):
            behavior = None if v.unjudged_reason else v.behavior.value
            cached[pos] = (behavior, v.category, v.unjudged_reason)
        project.save_predictions(source, [(p, *cached[p]) for p in sorted(cached)])
    return cached


def run_models(run_dir: str | Path) -> list[str]:
    """Distinct values of the run's `model` column (empty when it has none)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from refusalkit.reports.results import iter_result_batches, results_path

    path = results_path(run_dir)
    if "model" not in pq.read_schema(str(path)).names:
        return []
    seen: set[str] = set()
    for batch in iter_result_batches(path, ["model"], batch_size=65536):
        seen.update(str(v) for v in pc.unique(batch.column(0)).to_pylist() if v is not None)
    return sorted(seen)


def run_predictions(
    project: Project, run_dir: str | Path, model: str | None = None
) -> dict[int, Prediction]:
    """Verdicts of a saved run for the project's items, matched by exchange id.

    Read through `reports.results` in batches: only the id and verdict columns, so a
    large run costs one streaming pass.
    """
    import pyarrow.parquet as pq

    from refusalkit.reports.results import iter_result_batches, results_path

    path = results_path(run_dir)
    names = pq.read_schema(str(path)).names
    for col in ("id", "behavior"):
        if col not in names:
            raise ConfigError(f"{path} has no {col!r} column; it is not a refusalkit run")
    by_id = {item_id: pos for pos, item_id in project.item_ids().items()}
    cols = [c for c in ("id", "behavior", "category", "unjudged_reason", "model") if c in names]
    out: dict[int, Prediction] = {}
    for batch in iter_result_batches(path, cols, batch_size=65536):
        data = batch.to_pydict()
        blank = [None] * batch.num_rows
        reasons, cats = data.get("unjudged_reason", blank), data.get("category", blank)
        models = data.get("model")
        for i, item_id in enumerate(data["id"]):
            pos = by_id.get(str(item_id))
            if pos is None or (model is not None and models is not None and models[i] != model):
                continue
            behavior = data["behavior"][i]
            if behavior == "unjudged" or reasons[i]:
                out[pos] = (None, None, reasons[i] or "unjudged")
            else:
                out[pos] = (behavior, cats[i], None)
    return out


def _nan(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def compare(
    project: Project, predictions: dict[int, Prediction], *, limit: int = 500
) -> dict[str, Any]:
    """Kappa, accuracy (with CI), per-class scores and confusion for behaviour (and
    category in the taxonomy scheme), plus the disagreements (first `limit`)."""
    ref = reference_labels(project)
    scheme = project.scheme
    fields = ["behavior", "category"] if scheme.has_category else ["behavior"]
    covered = [p for p in sorted(ref) if p in predictions]
    judged = [p for p in covered if predictions[p][0] is not None]
    result: dict[str, Any] = {
        "reference_items": len(ref),
        "predicted": len(covered),
        "unjudged": len(covered) - len(judged),
        "missing": len(ref) - len(covered),
        "fields": {},
    }
    disagree: dict[int, dict[str, Any]] = {}
    for f_i, name in enumerate(fields):
        classes = scheme.behavior_values if name == "behavior" else scheme.category_values
        y_true = [ref[p][name] for p in judged]
        y_pred = [predictions[p][f_i] for p in judged]
        rep = classification_report(y_true, y_pred, classes)
        correct = sum(t == q for t, q in zip(y_true, y_pred, strict=True))
        acc = proportion_ci(correct, len(judged))
        result["fields"][name] = {
            "n": len(judged),
            "kappa": _nan(cohen_kappa(y_true, y_pred, classes)) if judged else None,
            "accuracy": _nan(acc.value),
            "accuracy_ci": [acc.low, acc.high],
            "macro_f1": _nan(rep.macro_f1),
            "labels": classes,
            "confusion": rep.confusion.tolist(),
            "per_class": {
                k: {"precision": v.precision, "recall": v.recall, "f1": v.f1, "support": v.support}
                for k, v in rep.per_class.items()
            },
        }
        for p, t, q in zip(judged, y_true, y_pred, strict=True):
            if t != q:
                disagree[p] = {"pos": p}
    rows = []
    for p in sorted(disagree)[:limit]:
        ex = project.item(p)
        rows.append(
            {
                "pos": p,
                "id": ex.id if ex else "",
                "gold": scheme.label_text(ref[p]["behavior"], ref[p]["category"]),
                "gold_source": ref[p]["source"],
                "predicted": scheme.label_text(predictions[p][0], predictions[p][1]),
                "prompt": ex.prompt if ex else "",
                "response": ex.response if ex else "",
            }
        )
    result["disagreements"] = rows
    result["n_disagreements"] = len(disagree)
    return result
