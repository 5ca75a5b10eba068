"""Gold-label parsing shared by `train`, `evaluate` and the training-set builder.

Datasets spell labels differently: XSTest `1_full_compliance` / `2_full_refusal` /
`3_partial_refusal`, FalseReject `Full Compliance` / `Direct Refusal` / `Safe Partial
Compliance`, CoCoNot `is_refusal: true` (a refusal of unknown kind) and subcategories
such as `false presuppositions`. Everything is normalised here to

* behaviour: "full_compliance" | "partial_refusal" | "full_refusal" | "refusal"
  (refusal, kind unknown) | None;
* category: a frozenset of acceptable taxonomy ids (the issue's CoCoNot mapping is
  ambiguous for a few subcategories: "subjective questions" is missing_identity *or*
  unknown_information) or None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from refusalkit.core.errors import DataError

REFUSAL_UNKNOWN = "refusal"

_BEHAVIOR_ALIASES: dict[str, str] = {
    "1": "full_compliance",
    "1_full_compliance": "full_compliance",
    "full_compliance": "full_compliance",
    "compliance": "full_compliance",
    "complied": "full_compliance",
    "comply": "full_compliance",
    "not_refusal": "full_compliance",
    "no": "full_compliance",
    "false": "full_compliance",
    "0": "full_compliance",
    "2": "full_refusal",
    "2_full_refusal": "full_refusal",
    "full_refusal": "full_refusal",
    "direct_refusal": "full_refusal",
    "3": "partial_refusal",
    "3_partial_refusal": "partial_refusal",
    "partial_refusal": "partial_refusal",
    "partial": "partial_refusal",
    "safe_partial_compliance": "partial_refusal",
    "partial_compliance": "partial_refusal",
    "refusal": REFUSAL_UNKNOWN,
    "refused": REFUSAL_UNKNOWN,
    "true": REFUSAL_UNKNOWN,
    "yes": REFUSAL_UNKNOWN,
    "is_refusal": REFUSAL_UNKNOWN,
}
# Integers 0/1 (and booleans) are boolean "is refusal" columns; the *strings* "1"/"2"/"3"
# are XSTest codes.

#: CoCoNot subcategory -> acceptable taxonomy ids (first = the one used for training).
COCONOT_SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "personal inquiry": ("missing_identity",),
    "offer advice, opinion or recommendations": ("missing_identity",),
    "false presuppositions": ("invalid_premise",),
    "underspecified": ("missing_context",),
    "incomprehensible": ("missing_context",),
    "input modality limitations": ("modalities",),
    "output modality limitations": ("modalities",),
    "modality limitations": ("modalities",),
    "style and length limitations": ("skill_level",),
    "temporal limitations": ("knowledge_cutoff",),
    "universal unknowns": ("unknown_information",),
    "subjective questions": ("missing_identity", "unknown_information"),
    "privacy violations": ("privacy",),
    "copyright violations": ("intellectual_property",),
    "triggers for offensive language": ("nsfw_content",),
    "dangerous or sensitive topics": ("information_hazards", "legal_compliance"),
    "misinformation": ("information_hazards",),
    "false information": ("information_hazards",),
    "wildchats": ("nsfw_content",),
}

CATEGORY_MAPS: dict[str, Mapping[str, tuple[str, ...]]] = {"coconot": COCONOT_SUBCATEGORIES}

_IDENTITY = re.compile(
    r"personal (?:opinion|preference|experience|feeling|belief)|as an ai|artificial intelligence|"
    r"i don't have (?:opinions|feelings|emotions)",
    re.I,
)
_LEGAL = re.compile(r"illegal|unlawful|\blaw|legal", re.I)


def resolve_coconot(subcategory: str, response: str) -> str:
    """One training id for a CoCoNot subcategory, picking among ambiguous ones by what the
    response itself says (an AI-identity disclaimer vs "no single answer"; "illegal")."""
    options = COCONOT_SUBCATEGORIES[subcategory]
    if subcategory == "subjective questions":
        return "missing_identity" if _IDENTITY.search(response) else "unknown_information"
    if subcategory == "dangerous or sensitive topics":
        return "legal_compliance" if _LEGAL.search(response) else "information_hazards"
    return options[0]


def _key(value: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(value).strip().lower())


def parse_behavior(
    value: Any, *, label_map: Mapping[str, str] | None = None, where: str = ""
) -> str | None:
    """Normalise one behaviour label (see module docstring); None/"" stay None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool | int) and value in (0, 1):  # boolean columns (is_refusal)
        return REFUSAL_UNKNOWN if value else "full_compliance"
    if label_map and str(value) in label_map:
        return parse_behavior(label_map[str(value)], where=where)
    k = _key(value)
    if k in _BEHAVIOR_ALIASES:
        return _BEHAVIOR_ALIASES[k]
    raise DataError(
        f"unknown behaviour label {value!r}",
        file=where or None,
        hint="use XSTest codes (1_full_compliance, 2_full_refusal, 3_partial_refusal), "
        "FalseReject names, true/false, or map values with --label-map VALUE=behavior",
    )


def parse_category(
    value: Any,
    known: set[str] | frozenset[str],
    *,
    category_map: Mapping[str, tuple[str, ...]] | None = None,
    where: str = "",
) -> frozenset[str] | None:
    """Normalise a category label to the set of acceptable taxonomy ids."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    s = str(value).strip()
    if category_map is not None and s in category_map:
        return frozenset(category_map[s])
    if s in known:
        return frozenset((s,))
    if "|" in s and all(p in known for p in s.split("|")):
        return frozenset(s.split("|"))
    raise DataError(
        f"unknown category {value!r}",
        file=where or None,
        hint="use taxonomy ids (refusalkit taxonomy) or --category-map coconot",
    )


def read_labelled(
    inputs: Sequence[Path],
    reader_kwargs: Mapping[str, Any],
    behavior_field: str | None,
    category_field: str | None,
    category_map: str | None,
    label_map: list[str] | None,
    limit: int | None,
) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """Exchanges and their `Gold` labels from the named columns of any readable file
    (`reader_kwargs` go to `read_exchanges`); used by `refusalkit train` and `evaluate`."""
    from refusalkit.core.errors import ConfigError, DataError
    from refusalkit.detectors._taxo import category_ids
    from refusalkit.detectors.evaluation import Gold
    from refusalkit.readers import read_exchanges

    if not behavior_field and not category_field:
        raise ConfigError(
            "no label column given", hint="pass --behavior-field and/or --category-field"
        )
    lmap = {}
    for item in label_map or []:
        if "=" not in item:
            raise ConfigError(
                f"--label-map {item!r} is not VALUE=behavior",
                hint="e.g. --label-map yes=full_refusal",
            )
        k, _, val = item.partition("=")
        lmap[k] = val
    if category_map and category_map not in CATEGORY_MAPS:
        raise ConfigError(
            f"unknown --category-map {category_map!r}", hint=f"known: {', '.join(CATEGORY_MAPS)}"
        )
    cmap = CATEGORY_MAPS.get(category_map or "")
    known = frozenset(category_ids())
    exchanges, gold = [], []
    with read_exchanges(inputs, limit=limit, **reader_kwargs) as stream:
        for ex in stream:
            where = ex.source.describe()
            for fld in (behavior_field, category_field):
                if fld and fld not in ex.metadata:
                    raise DataError(
                        f"label column {fld!r} is missing",
                        file=ex.source.file,
                        line=ex.source.line,
                        row=ex.source.row,
                        field=fld,
                        found_fields=list(ex.metadata),
                        hint="name the label column with --behavior-field / --category-field",
                    )
            b = (
                parse_behavior(ex.metadata.get(behavior_field), label_map=lmap, where=where)
                if behavior_field
                else None
            )
            c = (
                parse_category(
                    ex.metadata.get(category_field), known, category_map=cmap, where=where
                )
                if category_field
                else None
            )
            exchanges.append(ex)
            gold.append(Gold(behavior=b, categories=c))
    return exchanges, gold, stream.stats.to_dict()
