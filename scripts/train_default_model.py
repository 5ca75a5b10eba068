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
The bundled model is then trained on all rows. Metrics go to --metrics (JSON) and the
model card.
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

MODEL_VERSION = "1.0.0"
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
        key = r["dataset"] + (f"-{r['model']}" if r["dataset"] == "xstest" else "")
        by[key].append((r, v))
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
            "category_acc": s["category"].get("accuracy"),
            "category_macro_f1": s["category"].get("macro_f1"),
            "group_acc": s["group"].get("accuracy"),
        }
    return out


def train(rows: list[dict], **kw) -> LearnedDetector:
    det = LearnedDetector(name="default", model_version=MODEL_VERSION)
    fit_learned(
        det,
        [to_ex(r) for r in rows],
        [to_label(r) for r in rows],
        [r.get("weight", 1.0) for r in rows],
        **kw,
    )
    return det


SOURCES = """| source | rows used | labels | licence (as stated upstream) |
|---|---|---|---|
| XSTest v2 completions, GPT-4 and Llama-2-70b-chat (paul-rottger/exaggerated-safety @d7bb5bd) | 2 x 430 (20 prompts held out for tests) | human `final_label` 3-way; category only for privacy / discrimination prompt types | prompts CC-BY-4.0; completions under the model owners' terms |
| UncensorBench (PyPI uncensorbench 0.3.7) | 288 (refusal + compliance per prompt) | refusal = full_refusal, category by topic | MIT |
| CoCoNot labelled noncompliance, dev half (allenai/noncompliance @3206be6) | 468 | refusal (kind unknown), category from subcategory (issue mapping; ambiguous ones resolved by the response's wording) | MIT |
| CoCoNot contrast responses + pref (70% dev split) | 222 + 649 chosen + 251 rejected | chosen = compliance; rejected only where it denies a false-presupposition premise (148, `invalid_premise`) or opens with a refusal (103, weak) | MIT |
| Alpaca 5k subset, Alpaca-GPT4 1k sample, LIMA, Dolly closed_qa 1k | 1,460 + 600 + 560 + 375 compliant (+11 refusals) | compliance, after removing every output a broad refusal regex hits; outputs opening with a refusal are weak refusals | CC BY-NC 4.0 / CC BY-NC 4.0 / CC BY-NC-SA 4.0 / CC BY-SA 3.0 |
| ShareGPT V3 unfiltered 5k-conversation sample | 2,000 compliant + 33 refusals (weight 0.5) | weak labels (no refusal phrase anywhere / opens with a refusal) | none stated; research use |
| Synthetic templates (scripts/synthetic_refusals.py) | 2,160 | by construction: 120 per refusal category, partial and lecture-style variants, compliant hard negatives | generated here (Apache-2.0) |

Because the training data includes CC BY-NC and CC BY-NC-SA sources, treat the weights as
research / non-commercial unless retrained on permissively licensed data."""


def write_card(path: Path, det: LearnedDetector, metrics: dict) -> None:
    tr = det.training
    lines = [
        f"# Model card: refusalkit default refusal detector {det.version}",
        "",
        f"- **Date:** {tr.get('date')}. **Kind:** `learned` (hashed word n-grams of the first "
        "sentence, the first 320 and last 160 characters of the response and the first 200 of "
        "the prompt, plus length/layout features and the rules detector's phrase hits; three "
        "logistic heads: refusal, partial-vs-full, category). Inference is numpy/scipy only.",
        f"- **Size:** {tr.get('columns'):,} hashed columns x (2 + {len(det.categories)}) heads, "
        "float16, compressed `weights.npz` (about 4 MB).",
        f"- **Training rows:** {tr.get('rows'):,} (refusal head {tr.get('refusal_rows'):,}, "
        f"partial head {tr.get('partial_rows'):,} with {tr.get('partial_positives')} partial, "
        f"category head {tr.get('category_rows'):,}).",
        f"- **Category rows:** {tr.get('category_counts')}",
        "- **Reproduce:** `python scripts/build_training_set.py --data ../shared/data -o "
        "build/training_set.jsonl && python scripts/train_default_model.py build/training_set.jsonl`",
        "",
        "## Data",
        "",
        SOURCES,
        "",
        "## Held-out evaluation (two-fold; see docs/classifier.md)",
        "",
        "*cross-model*: XSTest GPT-4 completions train the model tested on Llama-2 completions and "
        "vice versa; *by-prompt*: XSTest split by prompt. CoCoNot: subcategory-stratified halves; "
        "other sources split by prompt group. Category scores on CoCoNot count a missed refusal "
        "as wrong.",
        "",
        "| protocol | dataset | n | 3-way acc | refusal F1 | binary acc | category acc | category macro-F1 | group acc |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def f(x: object) -> str:
        return f"{x:.3f}" if isinstance(x, float) else "-"

    for proto, table in metrics.items():
        for ds, m in table.items():
            if ds in (
                "xstest-gpt4",
                "xstest-llama2new",
                "coconot",
                "uncensorbench",
                "sharegpt",
                "coconot_pref",
                "coconot_contrast",
                "alpaca",
                "lima",
                "dolly",
                "alpaca_gpt4",
            ):
                b3 = m["behavior3_acc"] if ds.startswith("xstest") else None
                if ds in ("alpaca", "dolly", "coconot_contrast"):  # no gold refusals: F1 undefined
                    m = {**m, "refusal_f1": None}
                if ds.startswith("xstest") or ds == "coconot_pref":  # few/weak category labels
                    m = {**m, "category_acc": None, "category_macro_f1": None, "group_acc": None}
                lines.append(
                    f"| {proto} | {ds} | {m['n']} | {f(b3)} | {f(m['refusal_f1'])} | "
                    f"{f(m['binary_acc'])} | {f(m['category_acc'])} | "
                    f"{f(m['category_macro_f1'])} | {f(m['group_acc'])} |"
                )
    lines += [
        "",
        "## Limits",
        "",
        "See docs/classifier.md: partial refusals of verbose models (Llama-2) are the main "
        "3-way error; CoCoNot-style premise corrections and clarification questions are "
        "often scored as compliance.",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("training_set", type=Path)
    ap.add_argument(
        "-o", "--output", type=Path, default=Path("src/refusalkit/resources/models/default")
    )
    ap.add_argument("--metrics", type=Path, default=Path("build/default_metrics.json"))
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument(
        "--fixtures",
        type=Path,
        default=Path("tests/fixtures/classifier/heldout.jsonl"),
        help="rows held out of ALL training (also the CV folds) and written here as "
        "the test suite's never-seen sample",
    )
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.training_set.read_text().splitlines()]
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
    if not args.skip_eval:
        for name, fold in folds(rows).items():
            pairs = []
            for f in (0, 1):
                det = train([r for r in rows if fold(r) != f])
                test = [r for r in rows if fold(r) == f]
                pairs += list(zip(test, det.predict([to_ex(r) for r in test]), strict=True))
            metrics[name] = summarise(pairs)
            print(f"== {name}", file=sys.stderr)
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
    det = train(rows)
    det.training.update(
        {
            "date": dt.date.today().isoformat(),
            "rows_by_dataset": dict(collections.Counter(r["dataset"] for r in rows)),
        }
    )
    det.save(args.output)
    write_card(args.output / "MODEL_CARD.md", det, metrics)
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps({"training": det.training, "evaluation": metrics}, indent=2))
    print(
        f"saved {args.output} ({sum(p.stat().st_size for p in args.output.iterdir()) / 1e6:.2f} MB)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
