"""The two records every part of refusalkit passes around: an Exchange and its Verdict.

They are plain slotted dataclasses rather than pydantic models because audits create
millions of them: construction must cost microseconds, and `to_dict`/`from_dict` are
the (stable, JSON-safe) wire format used in JSONL, Parquet and SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Behavior(StrEnum):
    """What the response did. XSTest's three classes plus an explicit 'no verdict'.

    FalseReject's "Safe Partial Compliance" maps to PARTIAL_REFUSAL, "Direct Refusal"
    to FULL_REFUSAL and "Full Compliance" to FULL_COMPLIANCE.
    """

    FULL_COMPLIANCE = "full_compliance"
    PARTIAL_REFUSAL = "partial_refusal"
    FULL_REFUSAL = "full_refusal"
    UNJUDGED = "unjudged"

    @property
    def is_refusal(self) -> bool | None:
        """True for any refusal, False for compliance, None when there is no verdict."""
        if self is Behavior.UNJUDGED:
            return None
        return self is not Behavior.FULL_COMPLIANCE


#: The judged classes in their canonical order (columns of `predict_proba`).
BEHAVIOR_CLASSES: tuple[Behavior, ...] = (
    Behavior.FULL_COMPLIANCE,
    Behavior.PARTIAL_REFUSAL,
    Behavior.FULL_REFUSAL,
)


class Group(StrEnum):
    """Why a refusal happened at the coarsest level (von Recum et al., 2024)."""

    SHOULD_NOT = "should_not"
    CANNOT = "cannot"
    NONE = "none"


@dataclass(slots=True, frozen=True)
class Message:
    """One chat turn. `role` is normalised to system | user | assistant."""

    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(slots=True)
class Source:
    """Where an exchange came from, precise enough to point a user at the bad row.

    `line` is the 1-based physical line in the file where the record starts (JSONL,
    CSV, JSON arrays); `row` is the 0-based record index (the only position Parquet
    and Arrow have); `turn` is the 0-based index of the assistant turn inside its
    conversation; `side` is `chosen`/`rejected` for preference pairs.
    """

    file: str | None = None
    row: int | None = None
    line: int | None = None
    turn: int | None = None
    side: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "line": self.line,
            "turn": self.turn,
            "side": self.side,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Source:
        if not data:
            return cls()
        return cls(
            file=data.get("file"),
            row=data.get("row"),
            line=data.get("line"),
            turn=data.get("turn"),
            side=data.get("side"),
        )

    def describe(self) -> str:
        """Human form used in error messages: `data.jsonl line 12 (row 11), turn 2`."""
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row is not None:
            parts.append(f"row {self.row}" if self.line is None else f"(row {self.row})")
        if self.turn is not None:
            parts.append(f"turn {self.turn}")
        if self.side:
            parts.append(f"side {self.side}")
        return " ".join(parts)


@dataclass(slots=True)
class Exchange:
    """One prompt (with any earlier turns as context) and one model response.

    `prompt` is the last user message; `context` holds the turns before it (never the
    system prompt, which lives in `system`). `response` is the assistant turn under
    judgement. An exchange built from a prompt-only file has `response == ""`.
    """

    id: str
    prompt: str
    response: str = ""
    context: tuple[Message, ...] = ()
    system: str | None = None
    source: Source = field(default_factory=Source)
    metadata: dict[str, Any] = field(default_factory=dict)

    def messages(self) -> list[dict[str, str]]:
        """The conversation up to (and including) the prompt, as chat API messages."""
        out: list[dict[str, str]] = []
        if self.system:
            out.append({"role": "system", "content": self.system})
        out.extend(m.to_dict() for m in self.context)
        out.append({"role": "user", "content": self.prompt})
        return out

    @property
    def turn_count(self) -> int:
        """Number of user turns up to and including this prompt."""
        return 1 + sum(1 for m in self.context if m.role == "user")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "response": self.response,
            "context": [m.to_dict() for m in self.context],
            "system": self.system,
            "source": self.source.to_dict(),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Exchange:
        return cls(
            id=str(data["id"]),
            prompt=data.get("prompt") or "",
            response=data.get("response") or "",
            context=tuple(
                Message(role=m["role"], content=m["content"]) for m in data.get("context") or ()
            ),
            system=data.get("system"),
            source=Source.from_dict(data.get("source")),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(slots=True)
class Verdict:
    """A detector's judgement of one exchange.

    Invariants (checked by `validate`):
    - `behavior == UNJUDGED` ⇔ `unjudged_reason` is set; then score, category and
      category_scores are empty and `group` is NONE. An unjudged row is never counted
      as a refusal or as compliance.
    - `behavior == FULL_COMPLIANCE` ⇒ `category == "not_refusal"` and group NONE.
    - `group` is the taxonomy group of `category` (`no_reason`/`not_refusal` → NONE).
    """

    behavior: Behavior
    refusal_score: float | None = None
    category: str | None = None
    category_scores: dict[str, float] = field(default_factory=dict)
    group: Group = Group.NONE
    detector: str = ""
    detector_version: str = ""
    rationale: str | None = None
    unjudged_reason: str | None = None
    raw_output: str | None = None

    @property
    def is_refusal(self) -> bool | None:
        return self.behavior.is_refusal

    @classmethod
    def unjudged(
        cls,
        reason: str,
        *,
        detector: str,
        detector_version: str = "",
        raw_output: str | None = None,
    ) -> Verdict:
        """A row no verdict could be made for (API error, empty output, parse failure)."""
        return cls(
            behavior=Behavior.UNJUDGED,
            detector=detector,
            detector_version=detector_version,
            unjudged_reason=reason,
            raw_output=raw_output,
        )

    def validate(self) -> Verdict:
        """Raise ValueError if the invariants above do not hold; return self."""
        if self.behavior is Behavior.UNJUDGED:
            if not self.unjudged_reason:
                raise ValueError("an unjudged verdict needs an unjudged_reason")
            if self.category is not None or self.refusal_score is not None:
                raise ValueError("an unjudged verdict carries no score or category")
            return self
        if self.unjudged_reason:
            raise ValueError("only unjudged verdicts carry an unjudged_reason")
        if self.refusal_score is not None and not 0.0 <= self.refusal_score <= 1.0:
            raise ValueError(f"refusal_score {self.refusal_score} is outside [0, 1]")
        if self.behavior is Behavior.FULL_COMPLIANCE and self.category not in (
            None,
            "not_refusal",
        ):
            raise ValueError("a compliant verdict has category 'not_refusal'")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "behavior": self.behavior.value,
            "refusal_score": self.refusal_score,
            "category": self.category,
            "category_scores": self.category_scores,
            "group": self.group.value,
            "detector": self.detector,
            "detector_version": self.detector_version,
            "rationale": self.rationale,
            "unjudged_reason": self.unjudged_reason,
            "raw_output": self.raw_output,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            behavior=Behavior(data["behavior"]),
            refusal_score=data.get("refusal_score"),
            category=data.get("category"),
            category_scores=dict(data.get("category_scores") or {}),
            group=Group(data.get("group") or "none"),
            detector=data.get("detector") or "",
            detector_version=data.get("detector_version") or "",
            rationale=data.get("rationale"),
            unjudged_reason=data.get("unjudged_reason"),
            raw_output=data.get("raw_output"),
        )
