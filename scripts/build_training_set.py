#!/usr/bin/env python
"""Build the bundled refusal model's training set, reproducibly, from ../shared/data.

    python scripts/build_training_set.py --data /work/shared/data -o build/training_set.jsonl

One JSON row per example: id, dataset, model, prompt, response, behavior
(full_compliance | partial_refusal | full_refusal | refusal = a refusal whose 3-way kind
is unknown | null), category (taxonomy id or null), group_key (rows sharing a prompt share
it: splits are by group, never by row), weight.

Sources and labels (see the model card for licences):
* XSTest GPT-4 / Llama-2-70b-chat completions: human `final_label` (3-way). Category only
  where the prompt type fixes it (privacy, discrimination).
* UncensorBench: `censored_response` = full refusal (category by topic), the
  `uncensored_response` = full compliance.
* CoCoNot labelled noncompliance (dev half): refusal with the issue's subcategory ->
  category mapping; contrast responses and pref `chosen` = compliance. Pref `rejected`
  is noisy (hedged answers): used only where a strong refusal opener starts it.
* IFT (Alpaca, Alpaca-GPT4, Dolly, LIMA): compliance, EXCLUDING every output a broad
  refusal regex hits (Alpaca/LIMA contain real "As an AI I cannot" refusals); hits that
  open with a refusal are labelled refusals, the rest are dropped.
* ShareGPT: turns opening with a strong refusal become (weak) refusals; a sample of turns
  with no refusal cue anywhere in their first 400 characters become compliance.
* ShareGPT turns that open by apologising for an earlier mistake and then fix it ("I
  apologize for the confusion. Here is the corrected code ...") become (weak) compliance:
  they were most of the first model's false positives on real chat data.
* The hand-labelled real turns (scripts/data/real_labels.jsonl, docs/real_labels.md):
  the *train* half is gold data (dataset `real`); the *test* half is written with
  `real_split: test` so the training script can keep it out of all training and report
  on it. Every conversation of the labelled file, either half, is removed from the weak
  IFT/ShareGPT pools above (no duplicate, no leak).
* Synthetic templates per category (scripts/synthetic_refusals.py), hard negatives /
  soft refusals (scripts/synthetic_hard.py), operator-scoped refusals and bare refusals
  categorised by their prompt (scripts/synthetic_scoped.py).
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_sources import REFUSAL_START, ift, real_labels, sharegpt
from synthetic_hard import generate_hard
from synthetic_refusals import generate
from synthetic_scoped import generate_scoped

from refusalkit.detectors.labels import resolve_coconot

csv.field_size_limit(10**8)

XSTEST_LABELS = {
    "1_full_compliance": "full_compliance",
    "2_full_refusal": "full_refusal",
    "3_partial_refusal": "partial_refusal",
}

UNCENSOR_TOPIC = {
    "cybersecurity": "information_hazards",
    "piracy": "intellectual_property",
    "weapons": "information_hazards",
    "drugs": "legal_compliance",
    "fraud": "legal_compliance",
    "manipulation": "information_hazards",
    "violence": "information_hazards",
    "privacy_invasion": "privacy",
    "illegal_activities": "legal_compliance",
    "academic_dishonesty": "legal_compliance",
    "gambling": "legal_compliance",
    "controversial_speech": "nsfw_content",
    "evasion": "legal_compliance",
    "self_harm": "information_hazards",
    "adult_content": "nsfw_content",
}

#: A first sentence that denies the question's premise ("X did not write Y").
PREMISE_DENIAL = re.compile(
    r"\b(did not|didn't|was not|wasn't|were not|never|is not|isn't|does not|doesn't|no record|"
    r"not accurate|there is no|there was no|there are no|no evidence)\b",
    re.I,
)


def xstest(data: Path) -> Iterator[dict]:
    for model in ("gpt4", "llama2new"):
        with open(data / "xstest" / f"xstest_v2_completions_{model}.csv", newline="") as fh:
            for r in csv.DictReader(fh):
                beh = XSTEST_LABELS[r["final_label"]]
                t = r["type"]
                cat = None
                if beh == "full_compliance":
                    cat = "not_refusal"
                elif "privacy" in t:
                    cat = "privacy"
                elif "discr" in t:
                    cat = "nsfw_content"
                yield {
                    "id": f"xstest-{model}-{r['id']}",
                    "dataset": "xstest",
                    "model": model,
                    "prompt": r["prompt"],
                    "response": r["completion"].strip(),
                    "behavior": beh,
                    "category": cat,
                    "group_key": f"xstest-{r['prompt']}",
                    "xstest_type": t,
                }


def uncensorbench(data: Path) -> Iterator[dict]:
    for r in json.loads((data / "uncensorbench" / "prompts.json").read_text())["prompts"]:
        g = f"uncensor-{r['id']}"
        yield {
            "id": f"uncensor-{r['id']}-r",
            "dataset": "uncensorbench",
            "model": "",
            "prompt": r["prompt"],
            "response": r["censored_response"],
            "behavior": "full_refusal",
            "category": UNCENSOR_TOPIC[r["topic"]],
            "group_key": g,
        }
        yield {
            "id": f"uncensor-{r['id']}-c",
            "dataset": "uncensorbench",
            "model": "",
            "prompt": r["prompt"],
            "response": r["uncensored_response"],
            "behavior": "full_compliance",
            "category": "not_refusal",
            "group_key": g,
        }


def coconot(data: Path) -> Iterator[dict]:
    d = data / "coconot"
    for line in (d / "coconot_eval_with_responses_dev.jsonl").read_text().splitlines():
        r = json.loads(line)
        refusal = bool(r["is_refusal"])
        yield {
            "id": f"coconot-{r['id']}",
            "dataset": "coconot",
            "model": "",
            "prompt": r["prompt"],
            "response": r["response"],
            "behavior": "refusal" if refusal else "full_compliance",
            "category": resolve_coconot(r["subcategory"], r["response"])
            if refusal
            else "not_refusal",
            "group_key": f"coconot-{r['id']}",
            "subcategory": r["subcategory"],
            "weight": 5.0 if refusal else 1.0,
        }
    for line in (d / "coconot_contrast_eval_with_responses.jsonl").read_text().splitlines():
        r = json.loads(line)
        yield {
            "id": f"coconot-contrast-{r['id']}",
            "dataset": "coconot_contrast",
            "model": "",
            "prompt": r["prompt"],
            "response": r["response"],
            "behavior": "full_compliance",
            "category": "not_refusal",
            "group_key": f"coconot-contrast-{r['id']}",
            "subcategory": r["subcategory"],
        }
    for line in (d / "coconot_pref_dev.jsonl").read_text().splitlines():
        r = json.loads(line)
        g = f"coconot-pref-{r['id']}"
        yield {
            "id": f"coconot-pref-{r['id']}-c",
            "dataset": "coconot_pref",
            "model": "",
            "prompt": r["prompt"],
            "response": r["chosen"],
            "behavior": "full_compliance",
            "category": "not_refusal",
            "group_key": g,
            "subcategory": r["subcategory"],
        }
        first = re.split(r"(?<=[.!?])\s", r["rejected"].strip(), maxsplit=1)[0]
        if r["subcategory"] == "false presuppositions" and PREMISE_DENIAL.search(first):
            # the rejected answer denies a (true) premise: an invalid_premise refusal in kind
            yield {
                "id": f"coconot-pref-{r['id']}-r",
                "dataset": "coconot_pref",
                "model": "",
                "prompt": r["prompt"],
                "response": r["rejected"].strip(),
                "behavior": "refusal",
                "category": "invalid_premise",
                "group_key": g,
                "subcategory": r["subcategory"],
            }
        elif REFUSAL_START.search(r["rejected"][:200]):
            yield {
                "id": f"coconot-pref-{r['id']}-r",
                "dataset": "coconot_pref",
                "model": "",
                "prompt": r["prompt"],
                "response": r["rejected"],
                "behavior": "refusal",
                "category": None,
                "group_key": g,
                "subcategory": r["subcategory"],
                "weight": 0.5,
            }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="../shared/data", type=Path)
    ap.add_argument("-o", "--output", default="build/training_set.jsonl", type=Path)
    ap.add_argument("--seed", type=int, default=20241123)
    ap.add_argument(
        "--real-weight", type=float, default=2.0, help="sample weight of the hand-labelled rows"
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows: list[dict] = []
    rows += xstest(args.data)
    rows += uncensorbench(args.data)
    rows += coconot(args.data)
    real, labelled_groups = real_labels(weight=args.real_weight)
    ift_rows = list(ift(args.data, rng, labelled_groups))
    rows += ift_rows
    rows += sharegpt(args.data, rng, labelled_groups)
    rows += real
    pool = [r["response"] for r in ift_rows if r["behavior"] == "full_compliance"]
    rows += generate(pool, seed=args.seed)
    rows += generate_hard(pool, seed=args.seed + 1)
    rows += generate_scoped(pool, seed=args.seed + 2)
    rows = [r for r in rows if r["response"].strip()]  # empty = nothing to learn from
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w") as fh:
        for r in rows:
            r.setdefault("weight", 1.0)
            r.setdefault("model", "")
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    c = collections.Counter(
        (r["dataset"] + ("-test" if r.get("real_split") == "test" else ""), r["behavior"])
        for r in rows
    )
    for k, v in sorted(c.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        print(f"{k[0]:18s} {k[1]!s:16s} {v}")
    print("categories:", collections.Counter(r["category"] for r in rows).most_common())
    print(f"total {len(rows)} rows -> {args.output}")


if __name__ == "__main__":
    main()
