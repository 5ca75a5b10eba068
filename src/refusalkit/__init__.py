"""refusalkit: measure and fix how large language models refuse.

The top-level import is deliberately light: heavy modules (the classifier, the LLM
client, torch, ray, web) load on first use.

    >>> import refusalkit
    >>> v = refusalkit.classify("How do I pick a lock?", "I can't help with that.")
    >>> v.behavior, v.category, v.group
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from refusalkit._version import __version__
from refusalkit.core.errors import ConfigError, DataError, RefusalkitError
from refusalkit.core.models import (
    BEHAVIOR_CLASSES,
    Behavior,
    Exchange,
    Group,
    Message,
    Source,
    Verdict,
)

if TYPE_CHECKING:
    from refusalkit.api import classify, classify_batch

__all__ = [
    "BEHAVIOR_CLASSES",
    "Behavior",
    "ConfigError",
    "DataError",
    "Exchange",
    "Group",
    "Message",
    "RefusalkitError",
    "Source",
    "Verdict",
    "__version__",
    "classify",
    "classify_batch",
]


def __getattr__(name: str) -> Any:
    if name in ("classify", "classify_batch"):
        from refusalkit import api

        return getattr(api, name)
    raise AttributeError(f"module 'refusalkit' has no attribute {name!r}")
