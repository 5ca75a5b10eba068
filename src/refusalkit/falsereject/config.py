"""Settings of the FalseReject pipeline: one `RoleConfig` per agent role, plus the knobs.

Every stage's *job fingerprint* is derived from the settings that change its results
(endpoints, parameters, templates, K, judge, ...), never from speed settings, so a
resumed stage can refuse an output file that another job wrote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.core.io import dumps

#: agent roles; `pool` is the set of models whose refusals validate a prompt
ROLES = ("extractor", "generator", "discriminator", "pool", "orchestrator", "responder")
COT_FORMATS = ("think", "json")


@dataclass(slots=True)
class RoleConfig:
    """Endpoint (None: the default endpoint) and sampling parameters of one role."""

    endpoint: str | None = None
    max_tokens: int = 512
    temperature: float = 0.0

    def params(self, attempt: int = 0) -> dict[str, Any]:
        """Retries of malformed answers sample at >= 0.7, or a deterministic model would
        repeat the same bad answer (the sample index alone only bypasses the cache)."""
        temp = self.temperature if attempt == 0 else max(self.temperature, 0.7)
        return {"max_tokens": self.max_tokens, "temperature": temp}


def _default_roles() -> dict[str, RoleConfig]:
    return {
        "extractor": RoleConfig(max_tokens=400, temperature=0.0),
        "generator": RoleConfig(max_tokens=400, temperature=0.9),
        "discriminator": RoleConfig(max_tokens=300, temperature=0.0),
        "pool": RoleConfig(max_tokens=300, temperature=0.0),
        "orchestrator": RoleConfig(max_tokens=400, temperature=0.0),
        "responder": RoleConfig(max_tokens=1500, temperature=0.3),
    }


@dataclass(slots=True)
class PipelineConfig:
    """Everything the stages need besides their input and output files."""

    roles: dict[str, RoleConfig] = field(default_factory=_default_roles)
    #: endpoints of the validation pool (None = the default endpoint)
    pool_endpoints: list[str | None] = field(default_factory=lambda: [None])
    #: system prompt sent with every pool request (e.g. a deployed product's)
    pool_system: str | None = None
    #: detector spec reading the pool's answers (`default`, `rules`, `llm-falsereject:EP`, ...)
    judge: str = "default"
    #: keep prompts that at least this many pool endpoints refuse
    min_refusals: int = 1
    #: Generator/Discriminator rounds per item
    max_rounds: int = 3
    #: attempts per agent call when the answer is malformed (bad JSON, empty, off-category)
    max_attempts: int = 3
    #: RNG seed of sub-graph sampling
    seed: int = 0
    min_nodes: int = 2
    max_nodes: int = 4
    #: `think` (`<think>` tags / reasoning field) or `json` (reasoning and answer as fields)
    cot_format: str = "think"
    #: keep answers cut off at max_tokens (default: a cut-off answer is malformed)
    allow_truncated: bool = False
    prompts_dir: Path | None = None
    templates: dict[str, Path] = field(default_factory=dict)
    #: items in flight per stage (None: 4x the endpoints' concurrency, at least 16)
    concurrency: int | None = None

    def __post_init__(self) -> None:
        if self.min_refusals < 0:
            raise ConfigError(
                "--min-refusals must be >= 0", hint="-k 1 keeps prompts one model refuses"
            )
        if not 1 <= self.max_rounds <= 50:
            raise ConfigError("--max-rounds must be between 1 and 50", hint="--max-rounds 3")
        if not 1 <= self.max_attempts <= 20:
            raise ConfigError("--max-attempts must be between 1 and 20", hint="--max-attempts 3")
        if self.cot_format not in COT_FORMATS:
            raise ConfigError(
                f"unknown CoT format {self.cot_format!r}", hint="--cot-format think|json"
            )
        if not 1 <= self.min_nodes <= self.max_nodes:
            raise ConfigError(
                "sub-graph sizes need 1 <= min_nodes <= max_nodes", hint="--nodes 2-4"
            )
        if not self.pool_endpoints:
            self.pool_endpoints = [None]
        for role in ROLES:
            self.roles.setdefault(role, _default_roles()[role])

    def role(self, name: str) -> RoleConfig:
        return self.roles[name]

    def set_endpoints(self, default: str | None = None, **per_role: str | None) -> None:
        """`default` for every role without its own; `per_role` as role=endpoint."""
        for name, rc in self.roles.items():
            chosen = per_role.get(name)
            if chosen is not None:
                rc.endpoint = chosen
            elif rc.endpoint is None and default is not None:
                rc.endpoint = default
        if default is not None:
            self.pool_endpoints = [default if e is None else e for e in self.pool_endpoints]

    def apply_overrides(self, values: Mapping[str, str], attr: str, cast: type) -> None:
        """`--max-tokens ROLE=N` / `--temperature ROLE=T` style overrides."""
        for role, raw in values.items():
            if role not in self.roles:
                raise ConfigError(f"unknown role {role!r}", hint=f"roles: {', '.join(ROLES)}")
            try:
                setattr(self.roles[role], attr, cast(raw))
            except ValueError:
                raise ConfigError(
                    f"{attr} for {role} must be a {cast.__name__}, not {raw!r}",
                    hint=f"e.g. {role}=0.7",
                ) from None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["prompts_dir"] = str(self.prompts_dir) if self.prompts_dir else None
        out["templates"] = {k: str(v) for k, v in self.templates.items()}
        return out


def fingerprint(*parts: Any) -> str:
    """Short stable hash of JSON-able parts (job identity of a stage's output)."""
    return hashlib.sha256(dumps(list(parts))).hexdigest()[:16]


def parse_pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    """`["generator=300", ...]` -> {"generator": "300"}; errors name the flag."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(
                f"{flag} expects ROLE=VALUE, got {item!r}", hint=f"{flag} generator=300"
            )
        out[key.strip()] = value.strip()
    return out
