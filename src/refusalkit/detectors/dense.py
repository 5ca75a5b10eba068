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

from refusalkit.detectors.features import _SENT_END
from refusalkit.detectors.shape import NO_SHAPE, SHAPE_NAMES, shape_features

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
    `hashed_entries`), if given. Everything reads bounded windows of the response."""
    from refusalkit.detectors.rules import _NO_HIT, rule_features

    log1p = math.log1p
    search = _SENT_END.search
    shape = version >= 2
    rows = []
    cand = [True] * len(responses) if candidates is None else candidates.tolist()
    prm = [""] * len(responses) if prompts is None else prompts
    for r, c, pr in zip(responses, cand, prm, strict=True):
        n = len(r)
        if n == 0:
            rows.append(_EMPTY_ROW + NO_SHAPE if shape else _EMPTY_ROW)
            continue
        items = r.count("\n1.") + r.count("\n2.") + r.count("\n- ") + r.count("\n* ")
        rule = rule_features(r) if c else _NO_HIT
        row = [
            log1p(n) / 8.0,
            log1p(r.count("\n")) / 4.0,
            min(items, 10) / 5.0,
            1.0 if r.rstrip().endswith("?") else 0.0,
            1.0 if "```" in r else 0.0,
            0.0,
            *rule,
        ]
        if shape:
            low = r[:700].lower().replace("’", "'")
            m = search(low, 12, 200)
            first = low[: m.end()] if m else low[:200]
            row += shape_features(r, low, first, rule[0], pr)
        rows.append(row)
    width = len(dense_names(1 if not shape else 2))
    return np.array(rows, dtype=np.float32).reshape(len(responses), width)
