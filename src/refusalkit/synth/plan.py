"""What `refusalkit synth` asks for: the configuration, the item plan and the requests.

An *item* is one (category, index) pair with a stable id `category:000042`. Everything
about it is a pure function of the configuration and the index: the topic, the user
phrasing and the two seed examples shown to the writer rotate deterministically (so a
category's items cover the topic list evenly and a rerun plans exactly the same items),
and its refusal style rotates over the styles that fit the category (so styles are
balanced within every category). Three requests can exist per item:

1. `instruction`: write a user message that calls for this kind of refusal;
2. `refusal`: the assistant's refusal of that message, in the item's style;
3. `compliance`: a reply that simply does what was asked (the negative).

Attempt `a` of a request uses sample index `a`, so a retry after malformed output is a
new request (a new cache key), and a rerun replays every attempt from the response log.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from refusalkit.llm.types import ChatRequest
from refusalkit.synth.templates import Style, Templates
from refusalkit.taxonomy import Category, Taxonomy

STAGES = ("instruction", "refusal", "compliance")
#: default sampling temperature per stage: varied user messages, steadier replies
TEMPERATURE = {"instruction": 1.0, "refusal": 0.8, "compliance": 0.7}
#: default max_tokens per stage (JSON overhead included)
MAX_TOKENS = {"instruction": 220, "refusal": 260, "compliance": 420}


@dataclass(slots=True)
class SynthConfig:
    """Everything that decides what is generated (see `docs/synth.md`)."""

    per_category: int
    categories: list[str]
    styles: list[str]
    topics: list[str]
    templates: Templates
    taxonomy: Taxonomy
    negatives: bool = True
    endpoint: str | None = None
    temperature: dict[str, float] = field(default_factory=lambda: dict(TEMPERATURE))
    max_tokens: dict[str, int] = field(default_factory=lambda: dict(MAX_TOKENS))
    max_attempts: int = 3
    max_rounds: int = 4
    overgenerate: float = 0.1
    dedup_backend: str | None = "auto"
    dedup_threshold: float | None = None
    #: rules check of labels: "negatives" (compliant replies must not read as refusals),
    #: "both" (refusals must also read as refusals), "none"
    check: str = "negatives"
    seed: int = 0
    #: prompt detail: "full" (definition, distinctions, two seed examples) or "short" (the
    #: definition's first sentence and one example: for small local models, whose speed
    #: on a CPU is bound by prompt length)
    detail: str = "full"

    def styles_for(self, category: str) -> list[Style]:
        out = [self.templates.styles[s] for s in self.styles]
        fitting = [s for s in out if category not in s.exclude]
        return fitting or out

    def identity(self, endpoint: str, model: str) -> dict[str, Any]:
        """What makes two runs' items interchangeable; a run folder keeps one identity."""
        taxo = hashlib.sha256(
            repr([c.to_dict() for c in self.taxonomy.categories]).encode()
        ).hexdigest()[:10]
        return {
            "endpoint": endpoint,
            "model": model,
            "template_version": self.templates.version,
            "taxonomy": f"{self.taxonomy.name}@{self.taxonomy.version}+{taxo}",
            "temperature": dict(sorted(self.temperature.items())),
            "max_tokens": dict(sorted(self.max_tokens.items())),
            "max_attempts": self.max_attempts,
            "seed": self.seed,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Item:
    """One planned item: its id and the choices that vary its prompts."""

    id: str
    category: str
    index: int
    topic: str
    phrasing: str
    examples: tuple[int, ...]
    style: str


def _offset(seed: int, *parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def item_id(category: str, index: int) -> str:
    return f"{category}:{index:06d}"


def plan_item(cfg: SynthConfig, category: str, index: int) -> Item:
    """The item `index` of `category` (deterministic; see the module docstring)."""
    cat = cfg.taxonomy[category]
    topics, phrasings = cfg.topics, list(cfg.templates.phrasings)
    styles = cfg.styles_for(category)
    base = _offset(cfg.seed, category)
    # topics advance by one per item; phrasings step once per pass over the topics so the
    # (topic, phrasing) pairs do not repeat for len(topics) * len(phrasings) items
    topic = topics[(base + index) % len(topics)]
    phrasing = phrasings[(base // 7 + index + index // len(topics)) % len(phrasings)]
    n_ex = len(cat.examples)
    examples: tuple[int, ...] = ()
    if n_ex:
        first = (base // 13 + index) % n_ex
        second = (first + 1 + (index // n_ex) % max(1, n_ex - 1)) % n_ex
        examples = (first,) if n_ex == 1 else (first, second)
    style = styles[(base // 17 + index) % len(styles)].id
    return Item(item_id(category, index), category, index, topic, phrasing, examples, style)


# ------------------------------------------------------------------------- schemas
def _schema(*keys: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {k: {"type": "string"} for k in keys},
        "required": list(keys),
        "additionalProperties": False,
    }


def instruction_keys(cfg: SynthConfig, category: str) -> tuple[str, ...]:
    if category in cfg.templates.system_prompt_categories:
        return ("system", "instruction")
    return ("instruction",)


RESPONSE_KEYS = ("response",)


# ------------------------------------------------------------------------ requests
def _examples_text(cat: Category, picks: tuple[int, ...]) -> str:
    lines = []
    for i in picks:
        ex = cat.examples[i]
        if ex.system:
            lines.append(
                f'- system prompt: "{ex.system.strip()}"\n  user: "{ex.instruction.strip()}"'
            )
        else:
            lines.append(f'- "{ex.instruction.strip()}"')
    return "\n".join(lines) or "- (none given)"


def _request(
    cfg: SynthConfig,
    stage: str,
    system: str,
    user: str,
    keys: tuple[str, ...],
    attempt: int,
    meta: Any,
    local: bool,
) -> ChatRequest:
    schema = _schema(*keys)
    if local:  # llama.cpp: compact JSON, so a small model cannot ramble whitespace
        schema["x-guidance"] = {"whitespace_flexible": False}
    return ChatRequest(
        messages=[{"role": "user", "content": user}],
        endpoint=cfg.endpoint,
        system=system,
        params={"temperature": cfg.temperature[stage], "max_tokens": cfg.max_tokens[stage]},
        sample=attempt,
        json_schema=schema,
        schema_name=f"synth_{stage}",
        tag=f"synth:{stage}",
        meta=meta,
    )


def instruction_request(
    cfg: SynthConfig, item: Item, attempt: int, *, local: bool = False
) -> ChatRequest:
    tpl = cfg.templates
    cat = cfg.taxonomy[item.category]
    keys = instruction_keys(cfg, item.category)
    with_system = "system" in keys
    user = tpl.render(
        "instruction", "user",
        category_id=cat.id, category_name=cat.name, group=cat.group,
        definition=_definition(cfg, cat), distinguish=_distinguish(cfg, cat),
        examples=_examples_text(cat, item.examples[:1] if cfg.detail == "short" else item.examples),
        topic=item.topic,
        phrasing=tpl.phrasings[item.phrasing],
        system_rule=tpl.text("instruction", "system_rule").strip() if with_system else "",
        answer_format=tpl.text(
            "instruction", "answer_format_system" if with_system else "answer_format"
        ).strip(),
    )  # fmt: skip
    system = tpl.render("instruction", "system")
    return _request(
        cfg, "instruction", system, user, keys, attempt, (item, "instruction", attempt), local
    )


def _definition(cfg: SynthConfig, cat: Category) -> str:
    text = " ".join(cat.definition.split())
    if cfg.detail == "short":  # the leading sentence: small local models, small contexts
        text = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return text


def _distinguish(cfg: SynthConfig, cat: Category) -> str:
    if cfg.detail == "short" or not cat.distinguish:
        return "(see the definition)"
    return " ".join(cat.distinguish.split())


def _system_block(cfg: SynthConfig, system: str | None) -> str:
    if not system:
        return ""
    return "\n" + cfg.templates.render("system_block", system=system.strip())


def response_request(
    cfg: SynthConfig,
    item: Item,
    kind: str,
    instruction: str,
    system: str | None,
    attempt: int,
    *,
    local: bool = False,
) -> ChatRequest:
    """The `refusal` or `compliance` request for an item's accepted instruction."""
    tpl = cfg.templates
    cat = cfg.taxonomy[item.category]
    block = _system_block(cfg, system)
    if kind == "refusal":
        style = tpl.styles[item.style]
        reason_key = "reason_rule_none" if cat.id == "no_reason" else "reason_rule"
        user = tpl.render(
            "refusal", "user",
            category_id=cat.id, category_name=cat.name, group=cat.group,
            definition=_definition(cfg, cat), distinguish=_distinguish(cfg, cat),
            topic=item.topic, instruction=instruction.strip(), system_block=block,
            style=style.id, style_rule=style.rule.strip(),
            reason_rule=tpl.text("refusal", reason_key).strip(),
        )  # fmt: skip
    else:
        user = tpl.render(
            "compliance", "user", instruction=instruction.strip(), system_block=block,
            topic=item.topic,
        )  # fmt: skip
    system_text = tpl.render(kind, "system")
    return _request(
        cfg, kind, system_text, user, RESPONSE_KEYS, attempt, (item, kind, attempt), local
    )
