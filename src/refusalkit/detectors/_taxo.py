"""The taxonomy facts the detectors need: category ids in order and each id's group.

Read from `refusalkit.taxonomy.load_taxonomy()` (the single source of truth) and cached.
"""

from __future__ import annotations

from functools import lru_cache

from refusalkit.core.models import Group

NOT_REFUSAL = "not_refusal"
NO_REASON = "no_reason"


@lru_cache(maxsize=1)
def _taxonomy():  # type: ignore[no-untyped-def]
    from refusalkit.taxonomy import load_taxonomy

    return load_taxonomy()


def category_ids() -> tuple[str, ...]:
    """All 16 ids in taxonomy order."""
    return tuple(_taxonomy().ids)


def refusal_category_ids() -> tuple[str, ...]:
    """The 15 ids a refusal can have (everything but not_refusal), taxonomy order."""
    return tuple(c for c in category_ids() if c != NOT_REFUSAL)


@lru_cache(maxsize=64)
def group_of(category: str | None) -> Group:
    if not category or category in (NOT_REFUSAL, NO_REASON):
        return Group.NONE
    try:
        return Group(_taxonomy().group_of(category))
    except (KeyError, ValueError):  # an id from a user's own taxonomy/model
        return Group.NONE
