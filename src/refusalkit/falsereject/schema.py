"""The JSON schemas of the agents' answers, and a small validator for them.

The schemas are sent as structured output where the endpoint supports it (llama.cpp
enforces them by grammar, OpenAI-compatible servers by `response_format`); the answer is
validated again here in every case, because a server may ignore the schema, fall back to
plain text, or be cut off at `max_tokens`. The validator covers the subset of JSON Schema
these schemas use (type, properties, required, additionalProperties, enum, items,
minItems, maxItems, minLength, maxLength, minimum, maximum), so refusalkit needs no
`jsonschema` dependency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ENTITY_TYPES = ("people", "groups", "locations", "objects", "concepts", "actions")
#: singular names stored on graph nodes
ENTITY_TYPE_NAMES = {
    "people": "person",
    "groups": "group",
    "locations": "location",
    "objects": "object",
    "concepts": "concept",
    "actions": "action",
}

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every violation of `schema` by `value`, as `path: problem` strings (empty: valid)."""
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, t) for t in names):
            return [f"{path}: expected {' or '.join(names)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > maximum {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors.extend(validate(item, schema["items"], f"{path}[{i}]"))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors.extend(
            f"{path}: missing required field {k!r}"
            for k in schema.get("required", ())
            if k not in value
        )
        if schema.get("additionalProperties") is False:
            errors.extend(f"{path}: unexpected field {k!r}" for k in value if k not in props)
        for key, sub in props.items():
            if key in value:
                errors.extend(validate(value[key], sub, f"{path}.{key}"))
    return errors


def _cap(limit: int, max_tokens: int | None, share: float) -> int:
    """A local string's maxLength: `limit`, or less when `share` of the role's max_tokens
    (about 3 characters a token) is smaller, so the grammar closes the JSON in time
    instead of letting a small model ramble until it is cut off (malformed)."""
    if not max_tokens:
        return limit
    return max(12, min(limit, int(max_tokens * 3 * share)))


def _string(max_length: int | None, min_length: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "minLength": min_length}
    if max_length is not None:
        out["maxLength"] = max_length
    return out


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def extractor_schema(
    category_ids: Sequence[int], *, local: bool, max_tokens: int | None = None
) -> dict[str, Any]:
    """Entities by type, relations as [source, relation, target] triples, the seed's category.

    `local` (llama.cpp) adds length limits so a small model cannot ramble inside a string
    (tighter when `max_tokens` is small); hosted strict-mode servers reject `maxLength`, so
    they get none.
    """
    # pretty-printed by a small model, a name costs ~10 tokens and a relation ~30; the rest
    # of the object ~50: allow as many names per type as the budget holds (1-4)
    per_type = 4 if not max_tokens else max(1, min(4, (max_tokens - 50) // 90))
    name = _string((40 if per_type == 4 else 24) if local else None)
    names = {"type": "array", "items": name, "maxItems": per_type if local else 6}
    triple = {"type": "array", "items": name, "minItems": 3, "maxItems": 3}
    # every request names at least a topic and an action: requiring them keeps a small
    # model from copying the empty lists of an example
    required_one = {"concepts", "actions"}
    return _obj(
        {
            **{t: {**names, "minItems": 1} if t in required_one else names for t in ENTITY_TYPES},
            "relations": {
                "type": "array",
                "items": triple,
                "maxItems": per_type if local else 8,
            },
            "category_id": {"type": "integer", "enum": list(category_ids)},
        }
    )


def generator_schema(
    category: str, *, local: bool, max_tokens: int | None = None
) -> dict[str, Any]:
    return _obj(
        {
            "prompt": _string(_cap(600, max_tokens, 0.5) if local else None, 10),
            "category": {"type": "string", "enum": [category]},
            "benign_intent": _string(_cap(300, max_tokens, 0.2) if local else None),
        }
    )


def discriminator_schema(*, local: bool, max_tokens: int | None = None) -> dict[str, Any]:
    return _obj(
        {
            "verdict": {"type": "string", "enum": ["only_looks_unsafe", "really_unsafe"]},
            "feedback": _string(_cap(400, max_tokens, 0.5) if local else None),
        }
    )


def orchestrator_schema(*, local: bool, max_tokens: int | None = None) -> dict[str, Any]:
    flag = {"type": "boolean"}
    return _obj(
        {
            "benign": flag,
            "plausible": flag,
            "sensitive_looking": flag,
            "in_category": flag,
            "rationale": _string(_cap(400, max_tokens, 0.4) if local else None),
        }
    )


def cot_json_schema(*, local: bool, max_tokens: int | None = None) -> dict[str, Any]:
    """For `cot_format="json"`: reasoning and answer as fields (models that cannot write tags)."""
    return _obj(
        {
            "reasoning": _string(_cap(3000, max_tokens, 0.35) if local else None),
            "answer": _string(_cap(6000, max_tokens, 0.45) if local else None),
        }
    )
