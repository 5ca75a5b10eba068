"""Weakly-labelled chat pools and the hand-labelled real turns for the default model's
training set (used by scripts/build_training_set.py; split out to keep that script short).

Why weak labels need care: IFT datasets hold real refusals ("As an AI I cannot browse..."),
so every output a broad refusal regex hits is kept out of the compliant pools (those that
open with a refusal become weak refusals), and ShareGPT turns that open by apologising
for an earlier mistake and then fix it are compliance, not refusals. Every conversation of
the hand-labelled file, either half, is excluded from these pools (no duplicate, no leak
of the test half).
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

#: Broad: anything like a refusal anywhere in the text (used to keep compliance sets clean).
REFUSAL_ANY = re.compile(
    r"\b(as an ai|language model|i('m| am) (sorry|afraid|unable|not able)|i (cannot|can't|can not|"
    r"won't|will not|do not have|don't have)|unable to (provide|help|assist|answer|access)|"
    r"not (able|possible) to|apologi[sz]e|i must decline|not appropriate|against (my|our) "
    r"(policy|guidelines|programming)|ethical guidelines|as a (text|digital|virtual))",
    re.I,
)
#: Strict: a refusal opener at the very start (used to mine weak refusal labels).
REFUSAL_START = re.compile(
    r"^\W*(i'?m sorry,? (but )?(as an ai|i (can't|cannot|am unable|'m unable|am not able|'m not able|"
    r"don't have))|sorry, (but )?i (can't|cannot)|i apologi[sz]e,? but (as an ai|i (can't|cannot|am "
    r"unable))|as an ai( language model)?,? i (cannot|can't|am unable|'m unable|am not able|do not|"
    r"don't)|i (can't|cannot|am unable to|'m unable to) (help|assist|provide|fulfill|comply|"
    r"browse|access|see|view|listen))",
    re.I,
)


#: An opening apology for an earlier mistake (then, usually, the fix).
APOLOGY_FIX = re.compile(
    r"^\W*(?:i (?:sincerely |truly )?apologi[sz]e|(?:my )?apologies|i'?m (?:so |very |really )?sorry|"
    r"sorry)\b[^.!?\n]{0,120}?\b(?:confusion|mistake|oversight|error|misunderstand\w*|incomplete|"
    r"not meeting|omission|misinterpret\w*|mix-up|wrong|incorrect)",
    re.I,
)
#: ... unless the same opening also refuses or asks for what is missing.
APOLOGY_BUT = re.compile(
    r"\b(?:can(?:no|')t|can not|unable|not able|not possible|as an ai|language model|"
    r"(?:could|can) you (?:please )?(?:provide|clarify|share|specify)|please provide)",
    re.I,
)


def _ift_rows(
    name: str,
    items: Iterator[tuple[str, str, str]],
    limit: int,
    rng: random.Random,
    exclude: set[str],
) -> Iterator[dict]:
    """(group key, prompt, output) -> weak rows; the group key is the one the dataset
    readers give the row (`source:file-stem:index`), so labelled rows can be excluded."""
    items = [it for it in items if it[0] not in exclude]
    rng.shuffle(items)
    kept = 0
    for key, prompt, out in items:
        out = (out or "").strip()
        if not out:
            continue
        idx = key.rsplit(":", 1)[-1]
        if REFUSAL_ANY.search(out[:600]) or REFUSAL_ANY.search(out[-300:]):
            if REFUSAL_START.search(out[:200]):
                yield {
                    "id": f"{name}-{idx}-r",
                    "dataset": name,
                    "model": "",
                    "prompt": prompt,
                    "response": out,
                    "behavior": "refusal",
                    "category": None,
                    "group_key": key,
                    "weight": 0.5,
                }
            continue
        if kept < limit:
            kept += 1
            yield {
                "id": f"{name}-{idx}",
                "dataset": name,
                "model": "",
                "prompt": prompt,
                "response": out,
                "behavior": "full_compliance",
                "category": "not_refusal",
                "group_key": key,
            }


def _alpaca_items(path: Path, key: str) -> Iterator[tuple[str, str, str]]:
    """(reader group key, instruction + input, output) for an Alpaca-format JSON array."""
    for i, r in enumerate(json.loads(path.read_text())):
        yield f"{key}:{i}", f"{r['instruction']}\n{r['input']}".strip(), r["output"]


def ift(data: Path, rng: random.Random, exclude: set[str]) -> Iterator[dict]:
    d = data / "ift"
    yield from _ift_rows(
        "alpaca",
        _alpaca_items(
            d / "alpaca" / "alpaca_data_5000_subset.json", "alpaca:alpaca_data_5000_subset"
        ),
        1500,
        rng,
        exclude,
    )
    yield from _ift_rows(
        "alpaca_gpt4",
        _alpaca_items(
            d / "alpaca-gpt4-sample" / "alpaca_en_demo.json", "alpaca-gpt4:alpaca_en_demo"
        ),
        600,
        rng,
        exclude,
    )
    with gzip.open(d / "lima" / "lima.json.gz", "rt") as fh:
        lima = json.loads(fh.read())
    yield from _ift_rows(
        "lima",
        ((f"lima:lima:{i}", r["instruction"], r["output"]) for i, r in enumerate(lima)),
        600,
        rng,
        exclude,
    )
    with open(d / "dolly" / "databricks_dolly_closed_qa_1000.csv", newline="") as fh:
        dol = list(csv.DictReader(fh))
    yield from _ift_rows(
        "dolly",
        (
            (f"dolly:databricks_dolly_closed_qa_1000:{i}", r["instruction"], r["response"])
            for i, r in enumerate(dol)
        ),
        400,
        rng,
        exclude,
    )


def sharegpt(
    data: Path,
    rng: random.Random,
    exclude: set[str],
    n_compliant: int = 2000,
    n_apology: int = 400,
) -> Iterator[dict]:
    path = data / "ift" / "sharegpt" / "sharegpt_v3_unfiltered_cleaned_split_sample5000.jsonl.gz"
    refusals, compliant, apology = [], [], []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            conv = json.loads(line)
            group = f"sharegpt:{conv['id']}"
            # the sample splits long conversations into chunks `ID_0`, `ID_1`, ...: a chunk
            # of a labelled conversation repeats its text, so it is excluded too
            if group in exclude or _sharegpt_base(group) in exclude:
                continue
            turns = conv.get("conversations") or []
            for j in range(1, len(turns)):
                t, p = turns[j], turns[j - 1]
                if t.get("from") != "gpt" or p.get("from") != "human":
                    continue
                out = (t.get("value") or "").strip()
                if not out:
                    continue
                row = {
                    "id": f"sharegpt-{conv['id']}-{j}",
                    "dataset": "sharegpt",
                    "model": "chatgpt",
                    "prompt": p.get("value") or "",
                    "response": out,
                    "group_key": group,
                    "weight": 0.5,
                }
                if REFUSAL_START.search(out[:200]) and len(out) < 700:
                    refusals.append({**row, "behavior": "refusal", "category": None})
                elif not REFUSAL_ANY.search(out[:400]) and not REFUSAL_ANY.search(out[-200:]):
                    compliant.append(
                        {**row, "behavior": "full_compliance", "category": "not_refusal"}
                    )
                elif (
                    APOLOGY_FIX.search(out[:200])
                    and not APOLOGY_BUT.search(out[:300])
                    and len(out) >= 400
                ):
                    # apologises for an earlier mistake, then fixes it: compliance
                    apology.append(
                        {**row, "behavior": "full_compliance", "category": "not_refusal"}
                    )
    yield from refusals
    rng.shuffle(compliant)
    yield from compliant[:n_compliant]
    rng.shuffle(apology)
    yield from apology[:n_apology]


def _sharegpt_base(group: str) -> str:
    """`sharegpt:ID_3` -> `sharegpt:ID` (the original conversation of a chunk)."""
    head, _, tail = group.rpartition("_")
    return head if head and tail.isdigit() else group


REAL_LABELS = Path(__file__).resolve().parent / "data" / "real_labels.jsonl"


def real_labels(path: Path = REAL_LABELS, weight: float = 2.0) -> tuple[list[dict], set[str]]:
    """The hand-labelled real turns (both halves; `real_split` says which) and the set of
    their conversation keys (to exclude from every weak pool)."""
    rows, groups = [], set()
    for line in path.read_text().splitlines():
        r = json.loads(line)
        groups.add(r["group"])
        if r["group"].startswith("sharegpt:"):
            groups.add(_sharegpt_base(r["group"]))
        rows.append(
            {
                "id": f"real-{r['id']}",
                "dataset": "real",
                "model": r["source"],
                "prompt": r["prompt"],
                "response": r["response"],
                "behavior": r["behavior"],
                "category": r["category"],
                "group_key": f"real-{r['group']}",
                "real_split": r["split"],
                "weight": weight,
            }
        )
    return rows, groups
