#!/usr/bin/env python
"""Draw the stratified sample of real IFT/RLHF assistant turns that was hand-labelled
into scripts/data/real_labels.jsonl (kept for provenance; the labels are in that file).

    python scripts/sample_real_for_labelling.py --data /work/shared/data \
        --detector build/r2/model_v1.0.0 -o build/r2/to_label.jsonl

Population: every assistant turn the dataset readers yield for the six IFT folders
(HH-RLHF: turns shared by the chosen and rejected transcripts counted once). Strata,
disjoint and assigned in this order, from the detector that was current when the sample
was drawn (`default` 1.0.0) and the rules detector:

* `model`     - the learned model calls it a refusal (score >= 0.5);
* `rules`     - the rules detector calls it a refusal, the model does not;
* `near`      - model score in [0.1, 0.5);
* `keyword`   - a broad refusal/hedge keyword in the first 400 or last 250 characters;
* `random`    - everything else.

Each row records its stratum's population size and sample size, so population-level
rates can be estimated by weighting (weight = population / sampled).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from pathlib import Path

SOURCES = {
    "sharegpt": "ift/sharegpt/sharegpt_v3_unfiltered_cleaned_split_sample5000.jsonl.gz",
    "hh-rlhf": "ift/hh-rlhf/harmless-base/test.jsonl.gz",
    "alpaca": "ift/alpaca/alpaca_data_5000_subset.json",
    "alpaca-gpt4": "ift/alpaca-gpt4-sample/alpaca_en_demo.json",
    "lima": "ift/lima/lima.json.gz",
    "dolly": "ift/dolly/databricks_dolly_closed_qa_1000.csv",
}
#: sample size per (source, stratum)
PLAN = {
    "sharegpt": {"model": 110, "rules": 50, "near": 45, "keyword": 45, "random": 70},
    "hh-rlhf": {"model": 110, "rules": 35, "near": 60, "keyword": 35, "random": 80},
    "alpaca": {"model": 15, "rules": 6, "near": 25, "keyword": 25, "random": 40},
    "alpaca-gpt4": {"model": 28, "rules": 12, "near": 14, "keyword": 20, "random": 36},
    "lima": {"model": 11, "rules": 6, "near": 19, "keyword": 30, "random": 40},
    "dolly": {"model": 6, "rules": 0, "near": 9, "keyword": 6, "random": 40},
}
KEYWORD = re.compile(
    r"\b(sorry|apologi|unfortunately|as an ai|language model|i can'?t|i cannot|i can not|"
    r"unable|not able|won'?t|will not|illegal|unethical|not appropriate|inappropriate|"
    r"i don'?t (know|have|think)|i'?m not sure|not possible|cannot be|can'?t be|harmful|"
    r"dangerous|against the law|i would not|i wouldn'?t|i refuse|decline|clarify|"
    r"what do you mean|could you (please )?(provide|specify|tell)|"
    r"can you (please )?(provide|specify|tell|be more))\b",
    re.I,
)


def group_of(source: str, ex_id: str) -> str:
    """Conversation key: every turn of a conversation (and both sides of an HH-RLHF
    pair) shares it, so train/test splits never cut a conversation."""
    base = ex_id.split(":t")[0] if source in ("sharegpt", "hh-rlhf") else ex_id
    return f"{source}:{base}"


def split_of(group: str) -> str:
    return "test" if int(hashlib.sha1(group.encode()).hexdigest(), 16) % 2 else "train"


def main() -> None:
    from refusalkit.detectors.registry import load_detector
    from refusalkit.readers import read_exchanges

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--detector", default="default")
    ap.add_argument("-o", "--output", type=Path, default=Path("build/to_label.jsonl"))
    ap.add_argument("--seed", type=int, default=1123)
    args = ap.parse_args()
    det, rules = load_detector(args.detector), load_detector("rules")
    rng = random.Random(args.seed)
    out = []
    for src, rel in SOURCES.items():
        with read_exchanges(args.data / rel) as stream:
            exs = [
                e
                for e in stream
                if e.response.strip()
                and not (e.metadata.get("_same_across_sides") and e.source.side == "rejected")
            ]
        r, _, _ = det.scores(exs)  # type: ignore[attr-defined]
        rv = rules.predict(exs)
        strata: dict[str, list[int]] = {k: [] for k in PLAN[src]}
        for i, e in enumerate(exs):
            t = e.response
            if r[i] >= 0.5:
                s = "model"
            elif rv[i].behavior.value != "full_compliance":
                s = "rules"
            elif r[i] >= 0.1:
                s = "near"
            elif KEYWORD.search(t[:400] + " " + t[-250:]):
                s = "keyword"
            else:
                s = "random"
            strata[s].append(i)
        for s, idx in strata.items():
            take = sorted(rng.sample(idx, min(PLAN[src][s], len(idx))))
            for i in take:
                e = exs[i]
                g = group_of(src, e.id)
                out.append(
                    {
                        "id": f"{src}:{e.id}",
                        "source": src,
                        "group": g,
                        "split": split_of(g),
                        "stratum": s,
                        "stratum_size": len(idx),
                        "stratum_sampled": len(take),
                        "prompt": e.prompt,
                        "context": [m.to_dict() for m in e.context[-2:]],
                        "response": e.response,
                        "score_v1": round(float(r[i]), 4),
                        "rules_v1": rv[i].behavior.value,
                    }
                )
    rng.shuffle(out)  # label in random order (no stratum or score cues while reading)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w") as fh:
        for row in out:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(out)} rows -> {args.output}")


if __name__ == "__main__":
    main()
