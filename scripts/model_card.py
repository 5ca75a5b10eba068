"""The bundled default model's MODEL_CARD.md (data sources and licences, sizes, held-out
metrics, date), written by scripts/train_default_model.py; kept apart so the card can be
rewritten from a saved model and its metrics JSON without retraining:

    python scripts/model_card.py src/refusalkit/resources/models/default build/default_metrics.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from refusalkit.detectors.learned import LearnedDetector

SOURCES = """| source | rows used | labels | licence (as stated upstream) |
|---|---|---|---|
| XSTest v2 completions, GPT-4 and Llama-2-70b-chat (paul-rottger/exaggerated-safety @d7bb5bd) | 2 x 430 (20 prompts held out for tests) | human `final_label` 3-way; category only for privacy / discrimination prompt types | prompts CC-BY-4.0; completions under the model owners' terms |
| UncensorBench (PyPI uncensorbench 0.3.7) | 288 (refusal + compliance per prompt) | refusal = full_refusal, category by topic | MIT |
| CoCoNot labelled noncompliance, dev half (allenai/noncompliance @3206be6) | 468 | refusal (kind unknown), category from subcategory (issue mapping; ambiguous ones resolved by the response's wording) | MIT |
| CoCoNot contrast responses + pref (70% dev split) | 222 + 649 chosen + 251 rejected | chosen = compliance; rejected only where it denies a false-presupposition premise (148, `invalid_premise`) or opens with a refusal (103, weak) | MIT |
| Alpaca 5k subset, Alpaca-GPT4 1k sample, LIMA, Dolly closed_qa 1k | 1,460 + 600 + 560 + 375 compliant (+11 refusals) | compliance, after removing every output a broad refusal regex hits; outputs opening with a refusal are weak refusals | CC BY-NC 4.0 / CC BY-NC 4.0 / CC BY-NC-SA 4.0 / CC BY-SA 3.0 |
| ShareGPT V3 unfiltered 5k-conversation sample | 2,000 compliant + 210 apology-then-fix compliant + 18 refusals (weight 0.5) | weak labels (no refusal phrase anywhere / opens by apologising for a mistake, then fixes it / opens with a refusal); every conversation (and chunk of it) in the hand-labelled file excluded | none stated; research use |
| Hand-labelled real turns, *train* half (scripts/data/real_labels.jsonl, docs/real_labels.md) | 533 (137 refusals; weight 2) from ShareGPT, HH-RLHF harmless-base test, Alpaca, Alpaca-GPT4, LIMA, Dolly | 3-way behaviour + category, read by hand; the *test* half (493 rows) is never trained on and is reported separately | as the sources (HH-RLHF MIT) |
| Synthetic templates (scripts/synthetic_refusals.py, scripts/synthetic_hard.py) | 2,160 + 1,300 | by construction: 120 per refusal category, partial and lecture-style variants, compliant hard negatives; round 2: apology-then-fix, emphatic negations, quoted refusals, task-requested first person (640 compliant), impersonal / premise / clarification / deflection refusals and inability-then-reduced-answer partials (660) | generated here (Apache-2.0) |
| Synthetic operator-scoped and bare refusals (scripts/synthetic_scoped.py, round 3) | 240 + 80 + 120 + 480 | scoped refusals ("I can only help with cooking questions") as `chain_of_command`; in-scope answers by a scoped assistant, greetings and closing pleasantries as compliance; bare "Sorry, I can't assist with that." to a telling prompt as that prompt's category | generated here (Apache-2.0) |

Because the training data includes CC BY-NC and CC BY-NC-SA sources, treat the weights as
research / non-commercial unless retrained on permissively licensed data."""


def write_card(path: Path, det: LearnedDetector, metrics: dict) -> None:
    tr = det.training
    lines = [
        f"# Model card: refusalkit default refusal detector {det.version}",
        "",
        f"- **Date:** {tr.get('date')}. **Kind:** `learned` (hashed word n-grams of the first "
        "sentence, the first 320 and last 160 characters of the response and the first 200 of "
        "the prompt, plus length/layout features, the rules detector's phrase hits and (dense "
        f"version {det.cfg.dense}) response-shape cues; three logistic heads: refusal, "
        "partial-vs-full, category). Inference is numpy/scipy only.",
        f"- **Refusal threshold:** {det.refusal_threshold} ({tr.get('threshold_from', 'fixed')}).",
        f"- **Size:** {tr.get('columns'):,} hashed columns x (2 + {len(det.categories)}) heads, "
        "float16, compressed `weights.npz` (about 5 MB).",
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
        "as wrong; the *if refusal* columns score the category head alone on every gold refusal "
        "(its best refusal category, even when the refusal score fell below the threshold).",
        "",
        "| protocol | dataset | n | 3-way acc | refusal F1 | binary acc | category acc | category macro-F1 | group acc | category macro-F1 if refusal | group acc if refusal |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
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
                    m = {
                        **m,
                        "category_acc": None,
                        "category_macro_f1": None,
                        "group_acc": None,
                        "category_if_refusal_macro_f1": None,
                        "group_if_refusal_acc": None,
                    }
                lines.append(
                    f"| {proto} | {ds} | {m['n']} | {f(b3)} | {f(m['refusal_f1'])} | "
                    f"{f(m['binary_acc'])} | {f(m['category_acc'])} | "
                    f"{f(m['category_macro_f1'])} | {f(m['group_acc'])} | "
                    f"{f(m.get('category_if_refusal_macro_f1'))} | "
                    f"{f(m.get('group_if_refusal_acc'))} |"
                )
    real = {k: v for k, v in metrics.items() if "bundled" in k}
    if real:
        lines += [
            "",
            "## Hand-labelled real chat, test half (never trained on; docs/real_labels.md)",
            "",
            "Precision / recall of *refusal* (full or partial) on the stratified sample, "
            "which over-represents hard rows (see docs/real_labels.md for weighting).",
            "",
            "| model | source | n | precision | recall | refusal F1 | 3-way acc |",
            "|---|---|---|---|---|---|---|",
        ]
        for proto, table in real.items():
            for ds, m in table.items():
                lines.append(
                    f"| {proto} | {ds.removeprefix('real-')} | {m['n']} | "
                    f"{f(m['refusal_precision'])} | {f(m['refusal_recall'])} | "
                    f"{f(m['refusal_f1'])} | {f(m['behavior3_acc'])} |"
                )
    lines += [
        "",
        "## Limits",
        "",
        "See docs/classifier.md: partial refusals of verbose models (Llama-2) are the main "
        "3-way error; on real chat (table above) precision and recall are far below the "
        "benchmark numbers, HH-RLHF's hedging answers are the hardest, and human-written "
        "answers that negate (LIMA, Dolly: 'X is not known', 'X does not have a formal "
        "definition') are sometimes flagged as premise / unknown-information refusals.",
        "",
    ]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    metrics = json.loads(Path(sys.argv[2]).read_text())
    write_card(folder / "MODEL_CARD.md", LearnedDetector.load(folder), metrics["evaluation"])
