"""The learned default detector: hashed n-grams + three linear heads, scored in numpy.

Heads (all logistic, trained with scikit-learn by `detectors.training`, *scored* here
with numpy/scipy only, because importing sklearn costs ~1.5 s and audits are
throughput-bound):

* refusal head  - P(refusal) from the response windows (+ length/structure features);
* partial head  - P(partial | refusal): "refuses, then helps anyway" vs a full refusal;
* category head - softmax over the 15 refusal categories, from the response windows
  *and* the start of the prompt (the prompt says what was asked: "describe this photo").

Behaviour probabilities are `[1 - r, r * q, r * (1 - q)]` in `BEHAVIOR_CLASSES` order;
`refusal_score = r`. Weights live in `weights.npz` next to the `detector.json` manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from refusalkit.core.models import BEHAVIOR_CLASSES, Behavior, Exchange, Group, Verdict
from refusalkit.core.paths import resource_path
from refusalkit.detectors._taxo import NOT_REFUSAL, group_of
from refusalkit.detectors.base import Detector, Label
from refusalkit.detectors.dense import dense_names
from refusalkit.detectors.features import BucketIndex, FeatureConfig

WEIGHTS = "weights.npz"
_BATCH = 2048


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


class LearnedDetector(Detector):
    """Fast linear refusal classifier (see module docstring). `bundled()` loads the default."""

    kind = "learned"

    def __init__(
        self,
        features: dict[str, Any] | None = None,
        categories: Sequence[str] | None = None,
        refusal_threshold: float = 0.5,
        partial_threshold: float = 0.5,
        name: str = "learned",
        model_version: str = "0",
        training: dict[str, Any] | None = None,
    ) -> None:
        self.cfg = FeatureConfig.from_dict(features) if features else FeatureConfig()
        if categories is None:
            from refusalkit.detectors._taxo import refusal_category_ids

            categories = refusal_category_ids()
        self.categories = list(categories)
        self.refusal_threshold = float(refusal_threshold)
        self.partial_threshold = float(partial_threshold)
        self._name = name
        self.version = model_version
        self.training = dict(training or {})
        self.index: BucketIndex | None = None
        self.W: np.ndarray | None = None  # (n_columns + n_dense, 2 + n_categories)
        self.b: np.ndarray | None = None

    # -- identity / persistence ---------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @classmethod
    def bundled(cls) -> LearnedDetector:
        """The default model shipped in `refusalkit/resources/models/default/` (cached)."""
        global _BUNDLED
        if _BUNDLED is None:
            _BUNDLED = cls.load(resource_path("models", "default"))
        return _BUNDLED

    def config(self) -> dict[str, Any]:
        return {
            "features": self.cfg.to_dict(),
            "categories": self.categories,
            "refusal_threshold": self.refusal_threshold,
            "partial_threshold": self.partial_threshold,
            "name": self._name,
            "model_version": self.version,
            "training": self.training,
        }

    def _save_state(self, folder: Path) -> None:
        if self.index is None or self.W is None or self.b is None:
            raise RuntimeError("this detector has not been trained")
        np.savez_compressed(
            folder / WEIGHTS,
            buckets=self.index.buckets.astype(np.int32),
            W=self.W.astype(np.float16),
            b=self.b.astype(np.float32),
        )

    def _load_state(self, folder: Path) -> None:
        with np.load(folder / WEIGHTS) as z:
            self.set_weights(z["buckets"].astype(np.int64), z["W"].astype(np.float32), z["b"])

    def set_weights(self, buckets: np.ndarray, W: np.ndarray, b: np.ndarray) -> None:
        """Install trained weights (rows: hashed columns then dense features)."""
        self.index = BucketIndex(buckets, self.cfg)
        expected = (
            self.index.n_columns + len(dense_names(self.cfg.dense)),
            2 + len(self.categories),
        )
        if W.shape != expected:
            raise ValueError(f"weight matrix has shape {W.shape}, expected {expected}")
        # round through float16 so a trained model predicts exactly what its saved copy does
        self.W = np.ascontiguousarray(W.astype(np.float16).astype(np.float32))
        self.b = np.asarray(b, dtype=np.float32)

    # -- learning -------------------------------------------------------------------
    def fit(
        self,
        exchanges: Sequence[Exchange],
        labels: Sequence[Label],
        sample_weight: Sequence[float] | None = None,
    ) -> Self:
        """Train all heads (needs scikit-learn). A label with `behavior=None` and a refusal
        category counts as a refusal of unknown kind (trains the refusal and category heads)."""
        from refusalkit.detectors.training import fit_learned

        fit_learned(self, exchanges, labels, sample_weight)
        return self

    # -- scoring ----------------------------------------------------------------------
    def logits(self, responses: Sequence[str], prompts: Sequence[str] | None) -> np.ndarray:
        """Raw head scores, shape (n, 2 + n_categories): refusal, partial, categories."""
        if self.index is None or self.W is None or self.b is None:
            raise RuntimeError("this detector has not been trained or loaded")
        z = self.index.coo(responses, prompts, prompts) @ self.W
        z += self.b
        return np.asarray(z)

    def scores(self, exchanges: Sequence[Exchange]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(r, q, category probabilities) for non-empty responses; NaN rows for empty ones."""
        n = len(exchanges)
        r = np.full(n, np.nan)
        q = np.full(n, np.nan)
        pc = np.full((n, len(self.categories)), np.nan)
        idx = [i for i, e in enumerate(exchanges) if e.response and e.response.strip()]
        for s in range(0, len(idx), _BATCH):
            part = idx[s : s + _BATCH]
            resp = [exchanges[i].response for i in part]
            prm = [exchanges[i].prompt or "" for i in part]
            z = self.logits(resp, prm)
            r[part] = _sigmoid(z[:, 0])
            q[part] = _sigmoid(z[:, 1])
            zc = z[:, 2:] - z[:, 2:].max(axis=1, keepdims=True)
            e = np.exp(zc)
            pc[part] = e / e.sum(axis=1, keepdims=True)
        return r, q, pc

    def predict_proba(self, exchanges: Sequence[Exchange]) -> np.ndarray:
        r, q, _ = self.scores(exchanges)
        return np.stack([1.0 - r, r * q, r * (1.0 - q)], axis=1)

    def predict(self, exchanges: Sequence[Exchange]) -> list[Verdict]:
        return self.verdicts(*self.scores(exchanges))

    def verdicts(self, r: np.ndarray, q: np.ndarray, pc: np.ndarray) -> list[Verdict]:
        """Verdicts from `scores()` output (split out so worker processes can return
        compact arrays and the parent builds the verdicts)."""
        if not len(r):
            return []
        keys = [NOT_REFUSAL, *self.categories]
        ok = ~np.isnan(r)
        r0 = np.where(ok, r, 0.0)
        table = np.round(
            np.concatenate([(1.0 - r0)[:, None], r0[:, None] * np.nan_to_num(pc)], axis=1), 4
        )
        best = np.argmax(np.nan_to_num(pc, nan=-1.0), axis=1).tolist()
        refused = (ok & (r0 >= self.refusal_threshold)).tolist()
        partial = (np.nan_to_num(q) >= self.partial_threshold).tolist()
        rows, scores, oks = table.tolist(), np.round(r0, 4).tolist(), ok.tolist()
        name, version, cats = self._name, self.version, self.categories
        out: list[Verdict] = []
        for i in range(len(r)):
            if not oks[i]:
                out.append(
                    Verdict.unjudged("empty response", detector=name, detector_version=version)
                )
                continue
            if refused[i]:
                beh = Behavior.PARTIAL_REFUSAL if partial[i] else Behavior.FULL_REFUSAL
                cat = cats[best[i]]
                grp = group_of(cat)
            else:
                beh, cat, grp = Behavior.FULL_COMPLIANCE, NOT_REFUSAL, Group.NONE
            out.append(
                Verdict(
                    behavior=beh,
                    refusal_score=scores[i],
                    category=cat,
                    category_scores=dict(zip(keys, rows[i], strict=True)),
                    group=grp,
                    detector=name,
                    detector_version=version,
                )
            )
        return out


_BUNDLED: LearnedDetector | None = None

assert BEHAVIOR_CLASSES == (
    Behavior.FULL_COMPLIANCE,
    Behavior.PARTIAL_REFUSAL,
    Behavior.FULL_REFUSAL,
)
