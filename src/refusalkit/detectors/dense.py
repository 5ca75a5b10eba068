"""Dense features of the learned detector, appended after the hashed n-gram block.

Why a dense block at all: length/layout and the rules detector's hand-written phrase hits
generalise across models where n-grams over-fit one model's wording; version 2 adds the
response-shape cues of `refusalkit.detectors.shape`. `FeatureConfig.dense` records the
version a model was trained with, so old models keep loading and predicting unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from refusalkit.detectors.shape import SHAPE_NAMES, shape_rows

#: Names of the dense features appended after the hashed block: length/layout first,
#: then the rules detector's phrase hits (hand-written cues generalise across models).
LENGTH_NAMES = ("log_len", "log_lines", "list_items", "ends_question", "has_code", "empty")
RULE_NAMES = (
    "rule_open_first",
    "rule_open_any",
    "rule_close",
    "rule_bridge",
    *tuple(f"cue_{i}" for i in range(14)),
)
DENSE_V1 = LENGTH_NAMES + RULE_NAMES
DENSE_NAMES = DENSE_V1 + SHAPE_NAMES
_EMPTY_ROW = [0.0] * 5 + [1.0] + [0.0] * len(RULE_NAMES)


def dense_names(version: int) -> tuple[str, ...]:
    """Dense feature names of a model built with `FeatureConfig.dense` = version."""
    return DENSE_V1 if version == 1 else DENSE_NAMES


def dense_features(
    responses: Sequence[str],
    candidates: np.ndarray | None = None,
    prompts: Sequence[str] | None = None,
    version: int = 2,
) -> np.ndarray:
    """Length/structure features, rule hits and (version 2) response-shape cues (see
    DENSE_NAMES); the rules only run on `candidates` (rows holding a rule keyword, from
    `hashed_entries`), if given. The shape cues are computed for the whole batch at once
    (`shape_rows`: its substring gates scan the joined batch, the prompt cues run once
    per distinct prompt). Everything reads bounded windows of the response."""
    from refusalkit.detectors.rules import _NO_HIT, rule_features

    log1p = math.log1p
    rows = []
    cand = [True] * len(responses) if candidates is None else candidates.tolist()
    full: list[int] = []  # rows with a non-empty response: they get shape cues
    for r, c in zip(responses, cand, strict=True):
        n = len(r)
        if n == 0:
            rows.append(_EMPTY_ROW)
            continue
        full.append(len(rows))
        lines = r.count("\n")
        # every list marker starts with a newline: no newline, no count to make
        items = (
            r.count("\n1.") + r.count("\n2.") + r.count("\n- ") + r.count("\n* ") if lines else 0
        )
        rule = rule_features(r) if c else _NO_HIT
        rows.append(
            [
                log1p(n) / 8.0,
                log1p(lines) / 4.0,
                min(items, 10) / 5.0,
                1.0 if r.rstrip().endswith("?") else 0.0,
                1.0 if "```" in r else 0.0,
                0.0,
                *rule,
            ]
        )
    width = len(dense_names(version))
    out = np.zeros((len(responses), width), dtype=np.float32)
    if rows:
        out[:, : len(DENSE_V1)] = rows
    if prompts is not None and len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts for {len(responses)} responses")
    if version >= 2 and full:
        prm = [""] * len(responses) if prompts is None else prompts
        out[full, len(DENSE_V1) :] = shape_rows(
            [responses[i] for i in full], [rows[i][6] for i in full], [prm[i] for i in full]
        )
    return out
