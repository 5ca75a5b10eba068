"""Turn one record into its Exchanges, per shape.

`build_converter` resolves the column plan once per file and returns a closure, so
the per-row work is a handful of dict lookups: audits convert millions of rows.

Conventions (documented in docs/readers.md):
- one Exchange per assistant turn; `prompt` = the user turn right before it ("" when
  the assistant speaks first or twice in a row), `context` = every earlier turn,
  leading system turns (and a top-level system column) → `Exchange.system`;
- ids: `<id column or file-stem:row>`, plus `:t<turn>` for conversation shapes
  (sharegpt, messages, hh_rlhf, dpo) and `:chosen`/`:rejected` for preference pairs;
- reader-added metadata keys start with `_`: `_turn_final` (last assistant turn of
  its conversation) on conversation shapes, `_same_across_sides` on preference pairs
  (this turn and everything before it is identical on both sides).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from refusalkit.core.errors import DataError
from refusalkit.core.models import Exchange, Message, Source
from refusalkit.readers.records import Record
from refusalkit.readers.shapes import role_hint

Converter = Callable[[Record], list[Exchange]]
MAX_META_ITEMS = 32
_MISSING = object()
_SCALARS = (str, int, float, bool)
_WRONG_TYPE_HINT = "pass --shape to pick another shape, or --skip-bad to set such rows aside"
_ROLE_MAP = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "system": "system",
    "developer": "system",
}
# a literal prefix lets `re` jump between markers (an `^|` alternation scans every char)
_HH_MARKER = re.compile(r"\n\n(Human|Assistant):")


def _bad(rec: Record, problem: str, field: str | None, hint: str = _WRONG_TYPE_HINT) -> DataError:
    return DataError(
        problem,
        file=rec.file,
        line=rec.line,
        row=rec.row if rec.line is None else None,
        field=field,
        found_fields=list(rec.data or ()),
        hint=hint,
    )


def _kind(value: Any) -> str:
    names = {"dict": "object", "list": "list", "str": "string"}
    name = type(value).__name__
    return names.get(name, name)


def _text(value: Any, rec: Record, field: str, *, null_ok: bool = True) -> str:
    """Text of a scalar cell; None → "" (or an error for required prompts)."""
    if type(value) is str:
        return value
    if value is None:
        if null_ok:
            return ""
        raise _bad(rec, "is null, expected text", field)
    if type(value) in (int, float, bool):
        return str(value)
    raise _bad(rec, f"expected text, got a {_kind(value)}", field)


def _content(value: Any, rec: Record, field: str) -> str:
    """Message content: a string, null, or OpenAI-style list of parts."""
    if type(value) is str:
        return value
    if type(value) is list:
        parts = []
        for part in value:
            if type(part) is str:
                parts.append(part)
            elif type(part) is dict and type(part.get("text")) is str:
                parts.append(part["text"])
            elif type(part) is dict:
                parts.append(f"[{part.get('type', 'part')}]")
            else:
                raise _bad(rec, f"content part is a {_kind(part)}", field)
        return "\n".join(parts)
    return _text(value, rec, field)


def _metadata(data: dict[str, Any], consumed: frozenset[str]) -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        if k in consumed:
            continue
        if (
            v is None
            or type(v) in _SCALARS
            or (type(v) in (list, dict) and len(v) <= MAX_META_ITEMS)
        ):
            out[k] = v
    return out


def _turns(seq: Any, rec: Record, field: str) -> list[Message]:
    """ShareGPT `{from, value}` or OpenAI `{role, content}` turns, roles normalised."""
    if type(seq) is not list:
        raise _bad(rec, f"expected a list of turns, got a {_kind(seq)}", field)
    out = []
    roles = _ROLE_MAP
    for i, turn in enumerate(seq):
        if type(turn) is dict:  # fast path: known speaker, text content
            who = turn.get("from")
            if who is None:
                who = turn.get("role")
            content = turn.get("value", _MISSING)
            if content is _MISSING:
                content = turn.get("content")
            role = roles.get(who) if type(who) is str else None
            if role is not None and type(content) is str:
                out.append(Message(role, content))
                continue
        out.append(_slow_turn(turn, rec, f"{field}[{i}]"))
    return out


def _slow_turn(turn: Any, rec: Record, where: str) -> Message:
    if type(turn) is not dict:
        raise _bad(
            rec, f"turn is a {_kind(turn)}, not an object with from/value or role/content", where
        )
    who = turn.get("from", turn.get("role"))
    role = (_ROLE_MAP.get(who) or _ROLE_MAP.get(who.lower())) if type(who) is str else None
    if role is None:
        raise _bad(
            rec,
            f"unknown speaker {who!r} (known: {', '.join(sorted(_ROLE_MAP))})",
            where,
            hint="--skip-bad sets such rows aside (tool/function turns are not supported)",
        )
    content = turn["value"] if "value" in turn else turn.get("content")
    return Message(role, _content(content, rec, where))


def _parse_hh(text: Any, rec: Record, field: str) -> list[Message]:
    """`\\n\\nHuman: ...\\n\\nAssistant: ...` transcript → messages."""
    if type(text) is not str:
        raise _bad(rec, f"expected a Human:/Assistant: transcript, got a {_kind(text)}", field)
    if text.startswith(("Human:", "Assistant:")):
        text = "\n\n" + text
    parts = _HH_MARKER.split(text)
    if parts[0].strip():
        raise _bad(rec, "transcript does not start with 'Human:' or 'Assistant:'", field)
    return [
        Message("user" if parts[k] == "Human" else "assistant", parts[k + 1].strip())
        for k in range(1, len(parts), 2)
    ]


def _common_prefix(a: list[Message], b: list[Message]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def conversation_exchanges(
    msgs: list[Message],
    rec: Record,
    base: str,
    meta: dict[str, Any],
    *,
    system: str | None = None,
    side: str | None = None,
    same_upto: int | None = None,
) -> list[Exchange]:
    """One Exchange per assistant turn of `msgs` (see the module docstring)."""
    start = 0
    sys_parts = [system] if system else []
    while start < len(msgs) and msgs[start].role == "system":
        sys_parts.append(msgs[start].content)
        start += 1
    sys_text = "\n\n".join(sys_parts) if sys_parts else None
    suffix = f":{side}" if side else ""
    history: list[Message] = []
    out: list[Exchange] = []
    turn = 0
    for j in range(start, len(msgs)):
        m = msgs[j]
        if m.role == "assistant":
            if history and history[-1].role == "user":
                prompt, ctx = history[-1].content, tuple(history[:-1])
            else:
                prompt, ctx = "", tuple(history)
            md = dict(meta)
            md["_turn_final"] = False
            if same_upto is not None:
                md["_same_across_sides"] = j < same_upto
            src = Source(rec.file, rec.row, rec.line, turn, side)
            out.append(
                Exchange(f"{base}:t{turn}{suffix}", prompt, m.content, ctx, sys_text, src, md)
            )
            turn += 1
        history.append(m)
    if out:
        out[-1].metadata["_turn_final"] = True
    return out


def build_converter(shape: str, plan: dict[str, str | None], stem: str) -> Converter:
    """A function from a Record to its Exchanges, for one file whose plan is resolved."""
    consumed = frozenset(k for k in plan.values() if k is not None)
    idk, sk = plan.get("id"), plan.get("system")

    def base_id(data: dict[str, Any], row: int) -> str:
        if idk is not None:
            v = data.get(idk)
            if v is not None and v != "":
                return v if type(v) is str else str(v)
        return f"{stem}:{row}"

    def required(rec: Record, key: str | None, role: str) -> Any:
        v = rec.data.get(key, _MISSING) if key is not None else _MISSING  # type: ignore[union-attr]
        if v is _MISSING:
            raise _bad(rec, f"missing the {role} field", key or role, hint=role_hint(role))
        return v

    def system_of(rec: Record) -> str | None:
        if sk is None:
            return None
        return _text(rec.data.get(sk), rec, sk) or None  # type: ignore[union-attr]

    if shape in ("sharegpt", "messages"):
        ck = plan["conversations" if shape == "sharegpt" else "messages"]

        def conv_chat(rec: Record) -> list[Exchange]:
            msgs = _turns(required(rec, ck, shape), rec, ck)  # type: ignore[arg-type]
            d: dict[str, Any] = rec.data  # type: ignore[assignment]
            meta = _metadata(d, consumed)
            return conversation_exchanges(
                msgs, rec, base_id(d, rec.row), meta, system=system_of(rec)
            )

        return conv_chat

    if shape in ("hh_rlhf", "dpo"):
        ck, rk, pk = plan["chosen"], plan["rejected"], plan.get("prompt")

        def side_msgs(
            rec: Record, value: Any, key: str, prefix: list[Message] | None
        ) -> list[Message]:
            if shape == "hh_rlhf":
                return _parse_hh(value, rec, key)
            if type(value) is list or type(value) is dict:
                msgs = _turns(value if type(value) is list else [value], rec, key)
                if any(m.role == "user" for m in msgs):
                    return msgs
            else:
                msgs = [Message("assistant", _text(value, rec, key))]
            if prefix is None:
                raise _bad(
                    rec,
                    "this DPO row needs a prompt column (its answers hold no user turn)",
                    pk or "prompt",
                    hint=role_hint("prompt"),
                )
            return prefix + msgs

        def conv_pref(rec: Record) -> list[Exchange]:
            d = rec.data
            prefix = None
            if shape == "dpo" and pk is not None:
                p = required(rec, pk, "prompt")
                if type(p) is list:
                    prefix = _turns(p, rec, pk)
                elif type(p) is str and p.startswith(("\n\nHuman:", "Human:")):
                    prefix = _parse_hh(p, rec, pk)
                    if prefix and prefix[-1].role == "assistant" and not prefix[-1].content:
                        prefix.pop()
                else:
                    prefix = [Message("user", _text(p, rec, pk, null_ok=False))]
            chosen = side_msgs(rec, required(rec, ck, "chosen"), ck, prefix)  # type: ignore[arg-type]
            rejected = side_msgs(rec, required(rec, rk, "rejected"), rk, prefix)  # type: ignore[arg-type]
            same = _common_prefix(chosen, rejected)
            base, meta, sys_text = base_id(d, rec.row), _metadata(d, consumed), system_of(rec)  # type: ignore[arg-type]
            out = conversation_exchanges(
                chosen, rec, base, meta, system=sys_text, side="chosen", same_upto=same
            )
            out += conversation_exchanges(
                rejected, rec, base, meta, system=sys_text, side="rejected", same_upto=same
            )
            return out

        return conv_pref

    pk, ik, rk, hk = plan["prompt"], plan.get("input"), plan.get("response"), plan.get("history")

    def conv_single(rec: Record) -> list[Exchange]:
        d: dict[str, Any] = rec.data  # type: ignore[assignment]
        p = d.get(pk, _MISSING)  # type: ignore[arg-type]
        if p is _MISSING:
            required(rec, pk, "prompt")
        prompt = p if type(p) is str else _text(p, rec, pk, null_ok=False)  # type: ignore[arg-type]
        if ik is not None:
            extra = d.get(ik)
            if extra is not None and extra != "":
                if type(extra) is str:
                    prompt = f"{prompt}\n\n{extra}" if prompt else extra
                elif shape == "alpaca":
                    raise _bad(rec, f"expected text, got a {_kind(extra)}", ik)
        response = ""
        if rk is not None:
            r = d.get(rk, _MISSING)
            if r is _MISSING:
                required(rec, rk, "response")
            response = r if type(r) is str else _text(r, rec, rk)
        ctx: tuple[Message, ...] = ()
        if hk is not None:
            hist = d.get(hk)
            if hist:
                if type(hist) is not list:
                    raise _bad(
                        rec, f"expected a list of [user, assistant] pairs, got a {_kind(hist)}", hk
                    )
                msgs = []
                for i, pair in enumerate(hist):
                    if type(pair) not in (list, tuple) or len(pair) != 2:
                        raise _bad(
                            rec, "history entry is not a [user, assistant] pair", f"{hk}[{i}]"
                        )
                    msgs.append(Message("user", _text(pair[0], rec, f"{hk}[{i}][0]")))
                    msgs.append(Message("assistant", _text(pair[1], rec, f"{hk}[{i}][1]")))
                ctx = tuple(msgs)
        row = rec.row
        v = d.get(idk) if idk is not None else None
        eid = (v if type(v) is str else str(v)) if v is not None and v != "" else f"{stem}:{row}"
        src = Source(rec.file, row, rec.line, len(ctx) // 2, None)
        sys_text = system_of(rec) if sk is not None else None
        return [Exchange(eid, prompt, response, ctx, sys_text, src, _metadata(d, consumed))]

    return conv_single
