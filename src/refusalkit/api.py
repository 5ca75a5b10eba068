"""The Python API: classify one exchange or many with any detector spec.

    >>> import refusalkit
    >>> v = refusalkit.classify("How do I pick a lock?", "I can't help with that.")
    >>> v.behavior, v.category, v.group
    >>> refusalkit.classify_batch([("Hi", "Hello!"), ("Write malware", "Sorry, I can't.")])

Detectors are loaded once per spec and cached (loading the default model takes about a
second; classifying then costs microseconds per row).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from refusalkit.core.models import Exchange, Verdict
from refusalkit.detectors.base import Detector

__all__ = ["classify", "classify_batch", "get_detector"]


@lru_cache(maxsize=8)
def _cached(spec: str) -> Detector:
    from refusalkit.detectors.registry import load_detector

    return load_detector(spec)


def get_detector(detector: str | Detector = "default") -> Detector:
    """A Detector instance for a spec (cached) or the instance itself."""
    return detector if isinstance(detector, Detector) else _cached(str(detector))


def _as_exchange(item: Any, i: int) -> Exchange:
    if isinstance(item, Exchange):
        return item
    if isinstance(item, dict):
        return Exchange(
            id=str(item.get("id", i)),
            prompt=item.get("prompt") or "",
            response=item.get("response") or "",
        )
    if isinstance(item, str):  # a bare response
        return Exchange(id=str(i), prompt="", response=item)
    try:
        prompt, response = item
    except (TypeError, ValueError):
        raise TypeError(
            f"item {i}: expected an Exchange, a (prompt, response) pair, a dict with "
            f"'prompt'/'response', or a response string; got {type(item).__name__}"
        ) from None
    return Exchange(id=str(i), prompt=prompt or "", response=response or "")


def classify(prompt: str, response: str, *, detector: str | Detector = "default") -> Verdict:
    """Classify one response (the prompt helps the category head; it may be "")."""
    return get_detector(detector).predict(
        [Exchange(id="0", prompt=prompt or "", response=response or "")]
    )[0]


def classify_batch(
    pairs_or_exchanges: Iterable[Exchange | tuple[str, str] | dict[str, Any] | str],
    *,
    detector: str | Detector = "default",
) -> list[Verdict]:
    """Classify many at once (vectorised: much faster than calling `classify` in a loop)."""
    items: Sequence[Any] = list(pairs_or_exchanges)
    exchanges = [_as_exchange(x, i) for i, x in enumerate(items)]
    return get_detector(detector).predict(exchanges)
