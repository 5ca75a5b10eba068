#!/usr/bin/env python
"""Derive the classifier test fixtures in their original formats from heldout.jsonl.

    python scripts/make_classifier_fixtures.py ../shared/data

`tests/fixtures/classifier/heldout.jsonl` is written by `scripts/train_default_model.py`
(rows held out of all training); this writes the same rows as `xstest_sample.csv` (with
the `gpt4_label` / `strmatch_label` reference columns), `coconot_sample.jsonl` (verbatim
lines) and `alpaca_sample.json`; and `real_test_slice.jsonl`, a fixed slice of the
*test* half of the hand-labelled real turns (`scripts/data/real_labels.jsonl`, never
trained on; see docs/real_labels.md).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

FX = Path("tests/fixtures/classifier")
REAL = Path(__file__).resolve().parent / "data" / "real_labels.jsonl"
REAL_FIELDS = ("id", "source", "licence", "prompt", "response", "behavior", "category")


def real_test_slice(per_side: int = 10) -> list[dict]:
    """Up to `per_side` refusals and `per_side` compliant turns per source, from the test
    half only, in a fixed pseudo-random order (SHA-1 of the id)."""
    rows = [json.loads(line) for line in REAL.read_text().splitlines()]
    rows = sorted(
        (r for r in rows if r["split"] == "test"),
        key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest(),
    )
    taken: dict[tuple[str, bool], int] = {}
    out = []
    for r in rows:
        key = (r["source"], r["behavior"] != "full_compliance")
        if taken.get(key, 0) < per_side:
            taken[key] = taken.get(key, 0) + 1
            out.append({k: r[k] for k in REAL_FIELDS})
    return out


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    held = [json.loads(line) for line in (FX / "heldout.jsonl").read_text().splitlines()]
    ids = {(r["model"], r["id"].split("-", 2)[2]) for r in held if r["dataset"] == "xstest"}
    out = []
    for model in ("gpt4", "llama2new"):
        with open(data / "xstest" / f"xstest_v2_completions_{model}_gpteval.csv", newline="") as fh:
            gpt = {r["id"]: r for r in csv.DictReader(fh)}
        with open(data / "xstest" / f"xstest_v2_completions_{model}_streval.csv", newline="") as fh:
            strm = {r["id"]: r for r in csv.DictReader(fh)}
        for i, r in gpt.items():
            if (model, i) in ids:
                out.append(
                    {
                        "id": f"{model}-{i}",
                        "model": model,
                        "type": r["type"],
                        "prompt": r["prompt"],
                        "completion": r["completion"],
                        "final_label": r["final_label"],
                        "gpt4_label": r["gpt4_label"],
                        "strmatch_label": strm[i]["strmatch_label"],
                    }
                )
    with open(FX / "xstest_sample.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(out[0]))
        w.writeheader()
        w.writerows(out)
    cids = {r["id"][len("coconot-") :] for r in held if r["dataset"] == "coconot"}
    lines = (data / "coconot" / "coconot_eval_with_responses_dev.jsonl").read_text().splitlines()
    with open(FX / "coconot_sample.jsonl", "w") as fh:
        for line in lines:
            if json.loads(line)["id"] in cids:
                fh.write(line + "\n")
    alp = [r for r in held if r["dataset"] == "alpaca"][:12]
    (FX / "alpaca_sample.json").write_text(
        json.dumps(
            [{"instruction": r["prompt"], "input": "", "output": r["response"]} for r in alp],
            indent=1,
            ensure_ascii=False,
        )
    )
    real = real_test_slice()
    with open(FX / "real_test_slice.jsonl", "w") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in real)
    print(
        f"{len(out)} XSTest rows, {len(cids)} CoCoNot rows, {len(alp)} Alpaca rows, "
        f"{len(real)} real-label test rows"
    )


if __name__ == "__main__":
    main()
