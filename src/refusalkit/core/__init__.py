"""Core records, errors, paths and I/O helpers shared by every capability."""

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
]
