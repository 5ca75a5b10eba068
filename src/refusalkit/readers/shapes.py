"""Dataset shapes: how a record's fields map onto prompts, responses and conversations.

Detection looks only at the first record of each file and follows a fixed order, so the
same file always gets the same shape; users override it with `shape=` / `--shape` and
rename fields with `fields=` (`--prompt-field`, `--response-field`). Which synonym of
a role is used is also decided once per file, from the first record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refusalkit.core.errors import ConfigError, DataError

SHAPES: tuple[str, ...] = (
    "alpaca",
    "sharegpt",
    "messages",
    "hh_rlhf",
    "dpo",
    "prompt_response",
    "prompt_only",
)
#: Shapes whose rows are conversations: ids get a `:t<turn>` suffix.
CONVERSATION_SHAPES = frozenset({"sharegpt", "messages", "hh_rlhf", "dpo"})
PREFERENCE_SHAPES = frozenset({"hh_rlhf", "dpo"})

#: Column names tried, in order, for each role (exact match first, then ignoring case).
PROMPT_SYNONYMS = (
    "prompt",
    "question",
    "instruction",
    "query",
    "goal",
    "forbidden_prompt",
    "Behavior",
    "text",
)
RESPONSE_SYNONYMS = (
    "response",
    "completion",
    "output",
    "answer",
    "model_response",
    "generation",
    "censored_response",
)
INPUT_SYNONYMS = ("input", "context")
ID_SYNONYMS = ("id", "uid", "_id")
SYSTEM_SYNONYMS = ("system", "system_prompt")

#: Roles a `fields=` override may name.
FIELD_ROLES = (
    "prompt",
    "response",
    "input",
    "id",
    "system",
    "history",
    "conversations",
    "messages",
    "chosen",
    "rejected",
)

# role -> (synonyms, required) for every shape
_ROLES: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {
    "alpaca": {
        "prompt": (("instruction",), True),
        "input": (("input",), False),
        "response": (("output",), True),
        "history": (("history",), False),
        "system": (SYSTEM_SYNONYMS, False),
        "id": (ID_SYNONYMS, False),
    },
    "sharegpt": {
        "conversations": (("conversations",), True),
        "system": (SYSTEM_SYNONYMS, False),
        "id": (ID_SYNONYMS, False),
    },
    "messages": {
        "messages": (("messages",), True),
        "system": (SYSTEM_SYNONYMS, False),
        "id": (ID_SYNONYMS, False),
    },
    "hh_rlhf": {
        "chosen": (("chosen",), True),
        "rejected": (("rejected",), True),
        "id": (ID_SYNONYMS, False),
    },
    "dpo": {
        "prompt": (PROMPT_SYNONYMS, False),
        "chosen": (("chosen",), True),
        "rejected": (("rejected",), True),
        "system": (SYSTEM_SYNONYMS, False),
        "id": (ID_SYNONYMS, False),
    },
    "prompt_response": {
        "prompt": (PROMPT_SYNONYMS, True),
        "response": (RESPONSE_SYNONYMS, True),
        "input": (INPUT_SYNONYMS, False),
        "system": (SYSTEM_SYNONYMS, False),
        "id": (ID_SYNONYMS, False),
    },
    "prompt_only": {
        "prompt": (PROMPT_SYNONYMS, True),
        "input": (INPUT_SYNONYMS, False),
        "system": (SYSTEM_SYNONYMS, False),
        "id": (ID_SYNONYMS, False),
    },
}

_FLAG = {"prompt": "--prompt-field", "response": "--response-field"}


def role_hint(role: str) -> str:
    """The flag that fixes a missing or wrong field for `role`."""
    flag = _FLAG.get(role)
    if flag:
        return f"pass {flag} NAME to name the {role} column, --shape to pick another shape, or --skip-bad"
    return f"pass --shape to pick another shape (or fields={{'{role}': NAME}} from Python), or --skip-bad"


def check_fields(fields: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a `fields=` override map (role -> column name)."""
    if not fields:
        return {}
    out = {}
    for role, column in fields.items():
        if role not in FIELD_ROLES:
            raise ConfigError(
                f"unknown field role {role!r} in the field overrides; known roles: {', '.join(FIELD_ROLES)}",
                hint="use --prompt-field / --response-field, or fields={'prompt': NAME, ...}",
            )
        if not isinstance(column, str) or not column:
            raise ConfigError(f"the column name for {role!r} must be a non-empty string")
        out[role] = column
    return out


def check_shape(shape: str | None) -> str | None:
    if shape is not None and shape not in SHAPES:
        raise ConfigError(
            f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}",
            hint="pass --shape with one of the listed shapes (or leave it out to auto-detect)",
        )
    return shape


def find_key(keys: Mapping[str, Any], synonyms: tuple[str, ...]) -> str | None:
    """First synonym present: exact names first, then case-insensitively (deterministic)."""
    for name in synonyms:
        if name in keys:
            return name
    lowered = {k.lower(): k for k in reversed(list(keys))}
    for name in synonyms:
        hit = lowered.get(name.lower())
        if hit is not None:
            return hit
    return None


def detect_shape(
    record_data: Mapping[str, Any],
    *,
    file: str | None = None,
    fields: Mapping[str, str] | None = None,
    line: int | None = None,
    row: int | None = None,
) -> str:
    """The shape of a record, by this fixed order of rules (first match wins).

    1. `conversations` → sharegpt; 2. `messages` → messages; 3. `chosen` + `rejected`:
    with a prompt column → dpo, string transcripts → hh_rlhf, message lists → dpo;
    4. `instruction` + `output` → alpaca; 5. a prompt column (see `PROMPT_SYNONYMS`)
    with a response column (`RESPONSE_SYNONYMS`) → prompt_response, without →
    prompt_only. Field overrides count as present columns.
    """
    f = dict(fields or {})

    def has(role: str, default: tuple[str, ...]) -> str | None:
        if role in f:
            return f[role] if f[role] in record_data else None
        return find_key(record_data, default)

    if has("conversations", ("conversations",)):
        return "sharegpt"
    if has("messages", ("messages",)):
        return "messages"
    chosen = has("chosen", ("chosen",))
    if chosen and has("rejected", ("rejected",)):
        if has("prompt", PROMPT_SYNONYMS):
            return "dpo"
        return "hh_rlhf" if isinstance(record_data[chosen], str) else "dpo"
    if (
        "prompt" not in f
        and "response" not in f
        and "instruction" in record_data
        and "output" in record_data
    ):
        return "alpaca"
    if has("prompt", PROMPT_SYNONYMS):
        return "prompt_response" if has("response", RESPONSE_SYNONYMS) else "prompt_only"
    for role, column in f.items():
        if column not in record_data:
            raise DataError(
                f"the {role} column {column!r} given as an override is not in this record",
                file=file,
                line=line,
                row=row,
                field=column,
                found_fields=list(record_data),
                hint=role_hint(role),
            )
    raise DataError(
        "cannot recognise the dataset shape from this record's fields",
        file=file,
        line=line,
        row=row,
        found_fields=list(record_data),
        hint=(
            f"pass --shape ({', '.join(SHAPES)}) and/or --prompt-field / --response-field "
            "to name the columns"
        ),
    )


def resolve_fields(
    shape: str,
    record_data: Mapping[str, Any],
    overrides: Mapping[str, str],
    *,
    file: str,
    line: int | None,
    row: int | None,
) -> dict[str, str | None]:
    """Column name for each of `shape`'s roles (None when an optional role is absent)."""
    plan: dict[str, str | None] = {}
    for role, (synonyms, required) in _ROLES[shape].items():
        if role in overrides:
            key: str | None = overrides[role]
            if key not in record_data and required:
                raise DataError(
                    f"the {role} column {key!r} given as an override is not in this record",
                    file=file,
                    line=line,
                    row=row,
                    field=key,
                    found_fields=list(record_data),
                    hint=role_hint(role),
                )
        else:
            key = find_key(record_data, synonyms)
            if key is None and required:
                raise DataError(
                    f"shape {shape!r} needs a {role} column (tried: {', '.join(synonyms)})",
                    file=file,
                    line=line,
                    row=row,
                    field=role,
                    found_fields=list(record_data),
                    hint=role_hint(role),
                )
        plan[role] = key
    # a prompt column must not double as the response (e.g. `text` in prompt_only data)
    if plan.get("input") is not None and plan["input"] in (
        plan.get("prompt"),
        plan.get("response"),
    ):
        plan["input"] = None
    return plan
