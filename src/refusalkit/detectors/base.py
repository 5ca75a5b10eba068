"""The one interface every refusal detector implements (scikit-learn style).

Rules, the bundled learned model, a fine-tuned encoder and LLM judges are all
`Detector`s, so the CLI, audits and benchmarks swap them freely. A detector reads
`Exchange`s (the response is what is classified; the prompt and context are there for
detectors that use them) and returns one `Verdict` per exchange, in order.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from refusalkit.core.models import BEHAVIOR_CLASSES, Behavior, Exchange, Verdict

#: File inside a saved detector folder that says which class loads it.
MANIFEST = "detector.json"


@dataclass(slots=True, frozen=True)
class Label:
    """A gold label for training or evaluation; either part may be unknown (None)."""

    behavior: Behavior | None = None
    category: str | None = None


class Detector(ABC):
    """Base class: `predict` is required; `fit`, `save` and `load` where it makes sense."""

    #: Registry kind, written into the manifest of a saved detector.
    kind: ClassVar[str] = ""
    #: Version string recorded on every verdict (bump when outputs change).
    version: str = "0"

    @property
    def name(self) -> str:
        """Name recorded in `Verdict.detector`."""
        return self.kind

    def fit(self, exchanges: Sequence[Exchange], labels: Sequence[Label]) -> Self:
        raise NotImplementedError(f"the {self.kind!r} detector does not learn from data")

    @abstractmethod
    def predict(self, exchanges: Sequence[Exchange]) -> list[Verdict]:
        """One verdict per exchange, in input order. Never raises for one bad row:
        a row that cannot be judged gets `Verdict.unjudged(reason)`."""

    def predict_proba(self, exchanges: Sequence[Exchange]) -> np.ndarray:
        """Behaviour probabilities, shape (n, 3), columns in `BEHAVIOR_CLASSES` order.

        Unjudged rows are NaN. The default derives hard one-hot rows from `predict`;
        probabilistic detectors override it.
        """
        verdicts = self.predict(exchanges)
        out = np.full((len(verdicts), len(BEHAVIOR_CLASSES)), np.nan)
        for i, v in enumerate(verdicts):
            if v.behavior is not Behavior.UNJUDGED:
                out[i] = 0.0
                out[i, BEHAVIOR_CLASSES.index(v.behavior)] = 1.0
        return out

    # -- persistence -------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """JSON-safe constructor settings written to the manifest."""
        return {}

    def save(self, path: str | Path) -> Path:
        """Write the detector to a folder with a `detector.json` manifest."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {"kind": self.kind, "version": self.version, "config": self.config()}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        self._save_state(folder)
        return folder

    def _save_state(self, folder: Path) -> None:  # noqa: B027 - optional hook
        """Write learned weights next to the manifest (learning detectors override)."""

    @classmethod
    def load(cls, path: str | Path) -> Self:
        folder = Path(path)
        manifest = json.loads((folder / MANIFEST).read_text())
        obj = cls(**manifest.get("config", {}))
        obj._load_state(folder)
        return obj

    def _load_state(self, folder: Path) -> None:  # noqa: B027 - optional hook
        """Read learned weights (learning detectors override)."""
