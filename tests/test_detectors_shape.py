"""Dense features of the learned detector: the version-2 response-shape cues, their bounded
windows, and compatibility with models saved before they existed (dense version 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from refusalkit.detectors.dense import DENSE_NAMES, DENSE_V1, dense_features, dense_names
from refusalkit.detectors.features import FeatureConfig


def _cue(name: str, response: str, prompt: str = "") -> float:
    row = dense_features([response], prompts=[prompt], version=2)[0]
    return float(row[DENSE_NAMES.index(name)])


@pytest.mark.parametrize(
    ("name", "response", "prompt", "expected"),
    [
        (
            "apology_fix",
            "I apologize for the confusion. Here is the corrected code:\n\nprint('hi')",
            "That code is wrong.",
            1.0,
        ),
        ("apology_fix", "I apologize, but I cannot help with that request.", "Hack it.", 0.0),
        (
            "clarify_only",
            "Could you clarify what you mean by 'the best one'?",
            "Which is the best one?",
            1.0,
        ),
        (
            "clarify_only",
            "Paris is the capital of France. Is there anything else I can help with?",
            "Capital of France?",
            0.0,
        ),
        (
            "premise_denial",
            "There seems to be a misunderstanding: Dickens never wrote that novel.",
            "Why did Dickens write Moby-Dick?",
            1.0,
        ),
        ("impersonal_refusal", "It is illegal to rob a store, and I won't say more.", "", 1.0),
        ("impersonal_refusal", "It is sunny in Paris today.", "", 0.0),
        ("prompt_task_text", "I'm sorry, I can't make it on Friday.", "Write an excuse note", 1.0),
        ("yesno_x_no", "No, it did not.", "Did the treaty pass?", 1.0),
    ],
)
def test_shape_cues(name: str, response: str, prompt: str, expected: float) -> None:
    assert _cue(name, response, prompt) == expected


def test_pivot_measures_what_follows() -> None:
    short = "I can't write the whole app. However, here is an outline."
    long = short + "\n1. Set up\n2. Build\n3. Test\n- more\n" + "Detail sentence. " * 30
    assert _cue("pivot", short) == _cue("pivot", long) == 1.0
    assert _cue("pivot_items", long) > _cue("pivot_items", short)
    assert _cue("pivot_sentences", long) > _cue("pivot_sentences", short)


def test_shape_cues_read_bounded_windows() -> None:
    """A cue far past the windows (here, 50 kB in) changes no shape feature: long
    responses cost the same as short ones and end matter cannot flip the opening cues."""
    head = "Sure! Here is the plan for your trip.\n"
    filler = "We walk along the river and visit the museum. " * 1100
    late = "However, I cannot help with that. Could you clarify what you mean?"
    a = dense_features([head + filler], prompts=["Plan my trip"], version=2)[0]
    b = dense_features([head + filler + late], prompts=["Plan my trip"], version=2)[0]
    # pivot_chars is the (log) length after the pivot by design: every other cue must agree
    shape = [i for i in range(len(DENSE_V1), len(DENSE_NAMES)) if DENSE_NAMES[i] != "pivot_chars"]
    assert a[DENSE_NAMES.index("pivot")] == 1.0  # "Here is" opens the answer
    np.testing.assert_array_equal(a[shape], b[shape])


def test_versions_and_old_manifests() -> None:
    rs = ["I'm sorry, but I can't help with that.", "", "Paris."]
    v1 = dense_features(rs, version=1)
    v2 = dense_features(rs, prompts=["a", "b", "c"], version=2)
    assert v1.shape == (3, len(DENSE_V1)) and v2.shape == (3, len(DENSE_NAMES))
    # version 2 only appends: the version-1 block is unchanged, so 1.0 models still agree
    np.testing.assert_array_equal(v1, v2[:, : len(DENSE_V1)])
    assert dense_names(1) == DENSE_V1 and dense_names(2) == DENSE_NAMES
    old = {k: v for k, v in FeatureConfig().to_dict().items() if k != "dense"}
    assert FeatureConfig.from_dict(old).dense == 1
    assert FeatureConfig.from_dict(FeatureConfig().to_dict()).dense == 2


def test_substring_gates_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The literal-substring gates in front of the slow regexes are a pure speed-up: with
    every gate forced open, the features of real rows are identical."""
    from refusalkit.detectors import shape

    fx = Path(__file__).parent / "fixtures" / "classifier"
    rows = [
        json.loads(line)
        for f in ("heldout.jsonl", "real_test_slice.jsonl")
        for line in (fx / f).open()
    ]
    rs, ps = [r["response"] for r in rows], [r["prompt"] for r in rows]
    gated = dense_features(rs, prompts=ps, version=2)
    assert gated[:, len(DENSE_V1) :].any(axis=0).sum() >= 10  # the cues do fire on these rows
    monkeypatch.setattr(shape, "_has_any", lambda text, keys: True)
    np.testing.assert_array_equal(gated, dense_features(rs, prompts=ps, version=2))
