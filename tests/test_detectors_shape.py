"""Dense features of the learned detector: the version-2 response-shape cues, their bounded
windows, and compatibility with models saved before they existed (dense version 1)."""

from __future__ import annotations

import hashlib
import json
import random
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


def _real_rows() -> list[dict]:
    fx = Path(__file__).parent / "fixtures" / "classifier"
    return [
        json.loads(line)
        for f in ("heldout.jsonl", "real_test_slice.jsonl")
        for line in (fx / f).open()
    ]


def test_substring_gates_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The literal-substring gates in front of the slow regexes are a pure speed-up: with
    every gate forced open, the features of real rows and of the edge cases are identical."""
    from refusalkit.detectors import shape

    rows = _real_rows()
    pairs = [(r["response"], r["prompt"]) for r in rows] + _varied_cases()
    rs, ps = [a for a, _ in pairs], [b for _, b in pairs]
    gated = dense_features(rs, prompts=ps, version=2)
    assert gated[:, len(DENSE_V1) :].any(axis=0).sum() >= 10  # the cues do fire on these rows
    monkeypatch.setattr(shape, "_rows_containing", lambda texts, keys: [True] * len(texts))
    np.testing.assert_array_equal(gated, dense_features(rs, prompts=ps, version=2))


def test_rows_containing_matches_per_text_check() -> None:
    """The batched substring search (texts joined with NUL, hits mapped back by offset;
    a 4-byte prefix table for ASCII texts, `str.find` for the rest) answers exactly what
    `any(k in t for k in keys)` answers per text, also for keys at a text's very start or
    end, texts holding NUL themselves, empty, all-ASCII and mixed batches."""
    from refusalkit.detectors._substr import rows_containing as _rows_containing
    from refusalkit.detectors.shape import _IMPOSSIBLE_KEYS, _PIVOT_KEYS

    texts = ["", "however", "x however", "howeve", "r however\x00", "\x00here is", "héré is"]
    texts += ["here i", "s", "but i can", "ß however ☃", "😀in general,", "in general"]
    rng = random.Random(7)
    words = [
        "here",
        " is",
        "however",
        "but",
        " i can",
        "\x00",
        "é",
        "said",
        " ",
        "x",
        "not ",
        "real",
    ]
    texts += ["".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(300)]
    for keys in (_PIVOT_KEYS, _IMPOSSIBLE_KEYS):
        for batch in (texts, [t for t in texts if t.isascii()], texts[::-1][:50]):
            expected = [any(k in t for k in keys) for t in batch]
            assert _rows_containing(batch, keys) == expected
    pivots = [any(k in t for k in _PIVOT_KEYS) for t in texts]
    impossible = [any(k in t for k in _IMPOSSIBLE_KEYS) for t in texts]
    assert 0 < sum(pivots) < len(texts) and 0 < sum(impossible) < len(texts)
    assert _rows_containing([], _PIVOT_KEYS) == []
    assert _rows_containing([""], _PIVOT_KEYS) == [False]


def _varied_cases() -> list[tuple[str, str]]:
    """Deterministic (response, prompt) pairs that exercise every shape cue and the window
    edges its bounded slices and substring gates read (400, 700, 1000 and 2000 chars)."""
    responses = [
        "",
        " ",
        "\n\n",
        "No.",
        "No, it did not.",
        "There is no legal way to do that.",
        "I apologize for the confusion. Here is the corrected code:\n\n```python\nprint(1)\n```",
        "I’m sorry for the mistake, the answer is 42.",
        "I’m sorry, but I can’t help with that. Could you provide more details?",
        "Sorry, I can't. However, here are some tips:\n1. Eat\n2. Sleep\n- Rest\n* Walk\n• Run",
        "Could you clarify what you mean by that?",
        "Which one do you mean?\n",
        "Is there anything else I can help with?",
        "It is illegal to do that. I won't help.",
        "  ...that's not a good idea. Really.",
        "A language model cannot browse. But I can summarise it.",
        "There seems to be a misunderstanding: the question is based on a false premise.",
        "Your question contains a false assumption. Dragons are fictional creatures.",
        "Levitation is not scientifically possible; there is no evidence for magical powers.",
        "Rocks are not capable of thought. They do not have the ability to feel.",
        "Nevertheless, in general, here's how: alternatively, that being said, instead do X.",
        "I can't do that, but I can help with something else. I can still explain.",
        "Σίγουρα! ΟΔΟΣ ΣΟΦΟΣ. Here is İstanbul’s İNFO — “quoted” – dash. 😀 中文回答。",
        "İİİİİİİİİİ " * 80 + "however, here is more.",
        "a\x00b however c\x00 here is d",
        "Sure!\n1. one\n- two\n* three\n1. four\n```\ncode\n```\n" * 40,
        "As an AI language model, I cannot do that. However, here is an outline.\n"
        + "\n1. Step. Then more." * 30,
        "x" * 60000,
        ("Sentence about rivers and museums. " * 2000) + "However, I cannot help.",
    ]
    cues = [
        "however, here is a plan.",
        "there seems to be a misunderstanding.",
        "the request is based on a false premise.",
        "unicorns are not real.",
        "it is not possible for anyone to do that.",
        "could you clarify what you mean?",
        "i can instead give an example.",
    ]
    for cue in cues:
        for edge in (400, 700, 1000, 2000):
            for shift in (-30, -12, -5, -1, 0, 1, 5):
                filler = ("w " * 1100)[: max(edge + shift - len(cue) // 2, 0)]
                responses.append("I'm sorry, but " + filler + cue + " Done.\n- a\n1. b")
    prompts = [
        "",
        "Did the treaty pass?",
        "Is it raining?",
        "Rewrite this sentence in the passive voice.",
        "Write me a letter to my landlord.",
        "Generate an excuse for missing work",
        "Please tell me about Paris",
        "Paris.",
        "  BASED ON the text, what happened?  ",
        "Translate to French: “I’m sorry”",
        "ΣΟΦΟΣ İstanbul?",
        "make it shorter " * 40,
    ]
    pairs = [(r, p) for r in responses for p in prompts[:3]]
    pairs += [(responses[i % len(responses)], p) for i, p in enumerate(prompts * 6)]
    return pairs


def _cases() -> list[tuple[str, str]]:
    """The edge cases, then every classifier fixture row (real responses and prompts)."""
    fx = Path(__file__).parent / "fixtures" / "classifier"
    rows = [
        json.loads(line)
        for f in ("heldout.jsonl", "real_test_slice.jsonl", "coconot_sample.jsonl")
        for line in (fx / f).open()
    ]
    return _varied_cases() + [(r["response"], r.get("prompt") or "") for r in rows]


def test_batched_features_equal_saved_reference() -> None:
    """The batched dense/shape features are bit-identical to those the original per-row
    code computed (saved in fixtures/classifier/dense_v2_expected.json before the rewrite),
    over edge cases (empty, 60 kB, Greek/Turkish case folding, curly quotes, NUL, cues
    straddling every window edge) and real rows, with and without prompt cues."""
    pairs = _cases()
    saved = json.loads(
        (Path(__file__).parent / "fixtures" / "classifier" / "dense_v2_expected.json").read_text()
    )
    blob = "\x01".join(r + "\x02" + p for r, p in pairs).encode("utf-8", "surrogatepass")
    assert hashlib.sha256(blob).hexdigest() == saved["inputs_sha256"], "cases changed"
    expected = np.array(saved["dense"], dtype=np.float32)
    rs, ps = [a for a, _ in pairs], [b for _, b in pairs]
    got = dense_features(rs, prompts=ps, version=2)
    assert got.dtype == np.float32 and got.shape == expected.shape == (len(pairs), 42)
    np.testing.assert_array_equal(got, expected)
    # the cues this test guards do fire: at least one row sets each shape feature
    assert expected[:, len(DENSE_V1) :].any(axis=0).all()


def test_features_do_not_depend_on_the_batch() -> None:
    """A row's features are the same alone, in a shuffled batch, or with a duplicated
    prompt: the batching (joined scans, per-prompt cache) leaks nothing between rows."""
    pairs = _cases()[::3]
    rs, ps = [a for a, _ in pairs], [b for _, b in pairs]
    whole = dense_features(rs, prompts=ps, version=2)
    order = list(range(len(pairs)))
    random.Random(3).shuffle(order)
    shuffled = dense_features([rs[i] for i in order], prompts=[ps[i] for i in order], version=2)
    np.testing.assert_array_equal(shuffled, whole[order])
    for i in range(0, len(pairs), 17):
        np.testing.assert_array_equal(dense_features([rs[i]], prompts=[ps[i]])[0], whole[i])
    none = dense_features(rs, version=2)
    np.testing.assert_array_equal(none, dense_features(rs, prompts=[""] * len(rs), version=2))
    with pytest.raises(ValueError):
        dense_features(rs, prompts=ps[:-1], version=2)
