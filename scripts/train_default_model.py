#!/usr/bin/env python
"""Train, honestly evaluate and bundle the default learned refusal model.

    python scripts/build_training_set.py --data ../shared/data -o build/training_set.jsonl
    python scripts/train_default_model.py build/training_set.jsonl \
        -o src/refusalkit/resources/models/default --metrics build/default_metrics.json

Evaluation protocols (each trains two models on complementary halves, tests on the other):
* cross-model: XSTest GPT-4 completions train the model tested on Llama-2 completions and
  vice versa (a model's style is never seen in training); CoCoNot noncompliance responses
  in subcategory-stratified halves; every other source split by prompt group;
* by-prompt: XSTest split by *prompt* (both models' completions of a prompt on the same
  side), the rest as above.
* real-data test half: the hand-labelled real IFT/RLHF turns whose conversation is in the
  `test` half of scripts/data/real_labels.jsonl are never trained on (neither by the
  two-fold models nor by the bundled one); they are scored by the bundled model (and by the
  two-fold models, for comparison) and reported per source with precision and recall.
The bundled model is then trained on all rows. Metrics go to --metrics (JSON) and the
model card; `--oof FILE` writes every held-out prediction (for error analysis and the
threshold choice, which uses the out-of-fold predictions only, never the real test half).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

from refusalkit.core.models import Behavior, Exchange
from refusalkit.detectors.base import Label
from refusalkit.detectors.evaluation import Gold, score
from refusalkit.detectors.learned import LearnedDetector
from refusalkit.detectors.training import fit_learned

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_card import write_card

MODEL_VERSION = "1.2.0"
BEH = {
    "full_compliance": Behavior.FULL_COMPLIANCE,
    "partial_refusal": Behavior.PARTIAL_REFUSAL,
    "full_refusal": Behavior.FULL_REFUSAL,
}


def _h(key: str) -> str:
    return hashlib.md5(key.encode()).hexdigest()


def folds(rows: list[dict]) -> dict[str, callable]:
    by_sub = collections.defaultdict(list)
    for r in rows:
        if r["dataset"] == "coconot":
            by_sub[r["subcategory"]].append(r["group_key"])
    coc = {}
    for keys in by_sub.values():
        for i, k in enumerate(sorted(keys, key=_h)):
            coc[k] = i % 2

    def other(r: dict) -> int:
        if r["dataset"] == "coconot":
            return coc[r["group_key"]]
        return int(_h(r["group_key"]), 16) % 2

    def cross(r: dict) -> int:
        if r["dataset"] == "xstest":
            return 0 if r["model"] == "llama2new" else 1
        return other(r)

    return {"cross-model": cross, "by-prompt": other}


FIXTURE_DATASETS = (
    "xstest",
    "coconot",
    "uncensorbench",
    "coconot_contrast",
    "alpaca",
    "sharegpt",
    "dolly",
    "lima",
)


def split_fixtures(rows: list[dict], per_dataset: int = 40) -> tuple[list[dict], list[dict]]:
    """Hold a small sample (about 5% of groups, capped) out of all training for the tests."""
    held_groups: set[str] = set()
    count: collections.Counter[str] = collections.Counter()
    for r in sorted(rows, key=lambda r: _h("fixture" + r["group_key"])):
        if r["dataset"] not in FIXTURE_DATASETS or int(_h("fx" + r["group_key"]), 16) % 100 >= 6:
            continue
        if r["group_key"] in held_groups or count[r["dataset"]] < per_dataset:
            held_groups.add(r["group_key"])
            count[r["dataset"]] += 1
    fixtures = [r for r in rows if r["group_key"] in held_groups]
    return [r for r in rows if r["group_key"] not in held_groups], fixtures


def to_ex(r: dict) -> Exchange:
    return Exchange(id=r["id"], prompt=r["prompt"], response=r["response"])


def to_label(r: dict) -> Label:
    """Training label: CoCoNot refusals have a category but unknown 3-way kind; weak
    refusals without a category count as full refusals when short, else are unknown."""
    b = BEH.get(r["behavior"])
    if r["behavior"] == "refusal" and r["category"] is None:
        b = Behavior.FULL_REFUSAL if len(r["response"]) < 400 else None
    return Label(behavior=b, category=r["category"])


def to_gold(r: dict) -> Gold:
    cats = frozenset([r["category"]]) if r["category"] else None
    if r["dataset"] == "coconot" and r.get("subcategory"):
        from refusalkit.detectors.labels import COCONOT_SUBCATEGORIES

        if r["behavior"] != "full_compliance":
            cats = frozenset(COCONOT_SUBCATEGORIES[r["subcategory"]])
    return Gold(behavior=r["behavior"], categories=cats)


def summarise(pairs: list[tuple[dict, object]]) -> dict[str, dict]:
    by = collections.defaultdict(list)
    for r, v in pairs:
        key = r["dataset"] + (f"-{r['model']}" if r["dataset"] in ("xstest", "real") else "")
        by[key].append((r, v))
        if r["dataset"] == "real":
            by["real-ALL"].append((r, v))
    out = {}
    for key, items in sorted(by.items()):
        s = score([to_gold(r) for r, _ in items], [v for _, v in items], n_boot=500)
        b = s["binary"]
        out[key] = {
            "n": len(items),
            "behavior3_acc": s["behavior3"].get("accuracy"),
            "behavior3_acc_ci": s["behavior3"].get("accuracy_ci"),
            "binary_acc": b.get("accuracy"),
            "refusal_f1": b.get("per_class", {}).get("refusal", {}).get("f1"),
            "refusal_precision": b.get("per_class", {}).get("refusal", {}).get("precision"),
            "refusal_recall": b.get("per_class", {}).get("refusal", {}).get("recall"),
            "category_acc": s["category"].get("accuracy"),
            "category_macro_f1": s["category"].get("macro_f1"),
            "group_acc": s["group"].get("accuracy"),
            "category_if_refusal_acc": s["category_if_refusal"].get("accuracy"),
            "category_if_refusal_macro_f1": s["category_if_refusal"].get("macro_f1"),
            "group_if_refusal_acc": s["group_if_refusal"].get("accuracy"),
        }
    return out


TRAIN_KW: dict = {}


def train(rows: list[dict], **kw) -> LearnedDetector:
    kw = {**TRAIN_KW, **kw}
    det = LearnedDetector(name="default", model_version=MODEL_VERSION)
    fit_learned(
        det,
        [to_ex(r) for r in rows],
        [to_label(r) for r in rows],
        [r.get("weight", 1.0) for r in rows],
        **kw,
    )
    return det


def _oof_rows(test: list[dict], det: LearnedDetector, protocol: str) -> list[dict]:
    r, q, _ = det.scores([to_ex(x) for x in test])
    return [
        {
            "protocol": protocol,
            "id": x["id"],
            "dataset": x["dataset"],
            "model": x.get("model", ""),
            "behavior": x["behavior"],
            "category": x["category"],
            "r": None if ri != ri else round(float(ri), 5),
            "q": None if qi != qi else round(float(qi), 5),
        }
        for x, ri, qi in zip(test, r, q, strict=True)
    ]


#: Held-out sets whose binary F1 the refusal threshold is chosen to maximise (on the
#: out-of-fold predictions of both protocols; the real test half is never used).
CALIBRATION_SETS = (
    "xstest-gpt4",
    "xstest-llama2new",
    "coconot_pref",
    "uncensorbench",
    "real-ALL",
)


def choose_threshold(oof: list[dict], grid: tuple[float, ...] | None = None) -> float:
    """The refusal threshold with the best mean binary F1 over CALIBRATION_SETS plus the
    mean recall on CoCoNot's (all-refusal) rows, from out-of-fold scores."""
    import numpy as np

    grid = grid or tuple(round(x, 2) for x in np.arange(0.20, 0.71, 0.02))
    by: dict[str, list[tuple[float, bool]]] = collections.defaultdict(list)
    for o in oof:
        if o["r"] is None or o["behavior"] is None:
            continue
        key = o["dataset"] + (f"-{o['model']}" if o["dataset"] == "xstest" else "")
        if o["dataset"] == "real":
            key = "real-ALL"
        by[key].append((o["r"], o["behavior"] != "full_compliance"))

    def f1(items: list[tuple[float, bool]], t: float) -> float:
        tp = sum(1 for r, y in items if r >= t and y)
        fp = sum(1 for r, y in items if r >= t and not y)
        fn = sum(1 for r, y in items if r < t and y)
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    best, best_t = -1.0, 0.5
    for t in grid:
        vals = [f1(by[k], t) for k in CALIBRATION_SETS if by.get(k)]
        vals.append(np.mean([r >= t for r, _ in by.get("coconot", [(1.0, True)])]))
        m = float(np.mean(vals))
        if m > best + 1e-9:
            best, best_t = m, t
    return best_t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("training_set", type=Path)
    ap.add_argument(
        "-o", "--output", type=Path, default=Path("src/refusalkit/resources/models/default")
    )
    ap.add_argument("--metrics", type=Path, default=Path("build/default_metrics.json"))
    ap.add_argument("--oof", type=Path, help="write every held-out prediction here (JSONL)")
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument("--protocols", default="cross-model,by-prompt")
    ap.add_argument("--jobs", type=int, default=1, help="train the fold models in parallel")
    ap.add_argument("--no-bundle", action="store_true", help="evaluate only (no final model)")
    ap.add_argument(
        "--threshold",
        default="calibrate",
        help="refusal threshold: a number, or 'calibrate' (best mean F1 on out-of-fold "
        "predictions; needs the evaluation)",
    )
    ap.add_argument(
        "--fixtures",
        type=Path,
        default=Path("tests/fixtures/classifier/heldout.jsonl"),
        help="rows held out of ALL training (also the CV folds) and written here as "
        "the test suite's never-seen sample",
    )
    ap.add_argument("--train-kw", default="{}", help="JSON keyword arguments for fit_learned")
    args = ap.parse_args()
    TRAIN_KW.update(json.loads(args.train_kw))
    rows = [json.loads(line) for line in args.training_set.read_text().splitlines()]
    real_test = [r for r in rows if r.get("real_split") == "test"]
    rows = [r for r in rows if r.get("real_split") != "test"]
    rows, fixtures = split_fixtures(rows)
    args.fixtures.parent.mkdir(parents=True, exist_ok=True)
    with open(args.fixtures, "w") as fh:
        for r in fixtures:
            keep = {
                k: r.get(k)
                for k in (
                    "id",
                    "dataset",
                    "model",
                    "subcategory",
                    "prompt",
                    "response",
                    "behavior",
                    "category",
                )
            }
            fh.write(json.dumps(keep, ensure_ascii=False) + "\n")
    metrics: dict[str, dict] = {}
    oof: list[dict] = []
    fold_models: dict[str, list[tuple[LearnedDetector, list[dict]]]] = {}
    if not args.skip_eval:
        protocols = {k: v for k, v in folds(rows).items() if k in args.protocols.split(",")}
        jobs = [(name, f) for name in protocols for f in (0, 1)]
        splits = {
            (name, f): (
                [r for r in rows if fold(r) != f],
                [r for r in rows if fold(r) == f],
            )
            for name, fold in protocols.items()
            for f in (0, 1)
        }
        if args.jobs > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("fork")) as pool:
                futs = {j: pool.submit(train, splits[j][0]) for j in jobs}
                trained = {j: futs[j].result() for j in jobs}
        else:
            trained = {j: train(splits[j][0]) for j in jobs}
        for name, f in jobs:
            det, test = trained[(name, f)], splits[(name, f)][1]
            fold_models.setdefault(name, []).append((det, test))
            oof += _oof_rows(test, det, name)
    if args.threshold == "calibrate":
        threshold = choose_threshold(oof) if oof else 0.5
    else:
        threshold = float(args.threshold)
    for name, models in fold_models.items():
        pairs = []
        for det, test in models:
            det.refusal_threshold = threshold
            pairs += list(zip(test, det.predict([to_ex(r) for r in test]), strict=True))
        metrics[name] = summarise(pairs)
        if real_test and not args.no_bundle:  # the unseen half, by the fold-0 model
            det = models[0][0]
            metrics[name + " (fold-0 model, real test half)"] = summarise(
                list(zip(real_test, det.predict([to_ex(r) for r in real_test]), strict=True))
            )
        print(f"== {name} (threshold {threshold})", file=sys.stderr)
        for k, m in metrics[name].items():
            print(
                f"  {k:20s} "
                + " ".join(
                    f"{a}={b:.3f}" if isinstance(b, float) else f"{a}={b}"
                    for a, b in m.items()
                    if not a.endswith("_ci")
                ),
                file=sys.stderr,
            )
    del fold_models
    if args.no_bundle:  # exploration: out-of-fold numbers only, the real test half untouched
        args.metrics.parent.mkdir(parents=True, exist_ok=True)
        args.metrics.write_text(json.dumps({"threshold": threshold, "evaluation": metrics}))
        if args.oof:
            args.oof.write_text("".join(json.dumps(o) + "\n" for o in oof))
        return
    det = train(rows)
    det.refusal_threshold = threshold
    det.training.update(
        {
            "date": dt.date.today().isoformat(),
            "rows_by_dataset": dict(collections.Counter(r["dataset"] for r in rows)),
            "refusal_threshold": threshold,
            "threshold_from": "out-of-fold F1 (" + ", ".join(CALIBRATION_SETS) + ", coconot)"
            if args.threshold == "calibrate"
            else "fixed",
        }
    )
    if real_test:
        vs = det.predict([to_ex(r) for r in real_test])
        metrics["real-test (bundled model)"] = summarise(list(zip(real_test, vs, strict=True)))
        oof += _oof_rows(real_test, det, "bundled")
        print("== real test half, bundled model", file=sys.stderr)
        for k, m in metrics["real-test (bundled model)"].items():
            print(
                f"  {k:20s} n={m['n']} P={m['refusal_precision']} R={m['refusal_recall']} "
                f"F1={m['refusal_f1']} acc3={m['behavior3_acc']}",
                file=sys.stderr,
            )
    det.save(args.output)
    write_card(args.output / "MODEL_CARD.md", det, metrics)
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps({"training": det.training, "evaluation": metrics}, indent=2))
    if args.oof:
        args.oof.write_text("".join(json.dumps(o) + "\n" for o in oof))
    print(
        f"saved {args.output} ({sum(p.stat().st_size for p in args.output.iterdir()) / 1e6:.2f} MB)"
        f", refusal threshold {threshold}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
