"""Named model endpoints: where to send requests, how fast, and what they cost.

Endpoints come from three places, in this order of precedence for the *default*:

1. `REFUSALKIT_BASE_URL` (+ `REFUSALKIT_MODEL`, `REFUSALKIT_API_KEY`): a one-off endpoint
   named `env`, so a script or CI job needs no config file;
2. `refusalkit.toml` in the working directory (or the file `REFUSALKIT_CONFIG` names),
   whose top-level `default = "NAME"` picks one of its `[endpoints.NAME]` tables;
3. the bundled local SmolLM2 model (`local`), so every pipeline runs offline.

API keys are never part of an `Endpoint`: the config names the *environment variable*
that holds the key (`api_key_env`), and the key is read only at the moment a client is
built. Nothing in this module prints, stores or hashes a key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from refusalkit.core.errors import ConfigError

CONFIG_ENV = "REFUSALKIT_CONFIG"
CONFIG_FILE = "refusalkit.toml"
LOCAL_NAME = "local"
ENV_NAME = "env"
PROVIDERS = ("openai", "anthropic", "local")
STRUCTURED = ("auto", "json_schema", "none")
TRANSPORTS = ("fast", "httpx")
_HINT = f"see docs/llm.md for the format of {CONFIG_FILE}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One model behind one API. Immutable; build variants with `with_(...)`."""

    name: str
    model: str = ""
    base_url: str | None = None
    provider: str = "openai"
    #: NAME of the environment variable holding the key (never the key itself).
    api_key_env: str | None = None
    max_concurrency: int = 8
    #: requests and tokens per minute (None = unlimited)
    rpm: float | None = None
    tpm: float | None = None
    #: seconds per attempt (connect + full response)
    timeout: float = 120.0
    max_retries: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    #: default request parameters (temperature, max_tokens, top_p, seed, ...)
    params: Mapping[str, Any] = field(default_factory=dict)
    #: system prompt sent with requests that carry none of their own (an operator's
    #: deployment prompt, e.g. to audit a model with and without it)
    system: str | None = None
    #: USD per input / output token
    price_input: float | None = None
    price_output: float | None = None
    structured_output: str = "auto"
    stream: bool = False
    transport: str = "fast"
    #: provider = "local": the GGUF file and llama.cpp settings
    model_path: str | None = None
    n_ctx: int = 16384  # total; each of the n_parallel slots gets n_ctx / n_parallel
    n_parallel: int = 4
    threads: int | None = None

    def with_(self, **changes: Any) -> Endpoint:
        return replace(self, **changes)

    @property
    def is_local(self) -> bool:
        return self.provider == "local"

    def api_key(self) -> str | None:
        """Read the key from the environment now; a named but unset variable is an error."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(
                f"endpoint {self.name!r} needs an API key in ${self.api_key_env}, which is not set",
                hint=f"export {self.api_key_env}=... (keys are read from the environment only)",
            )
        return value

    @property
    def identity(self) -> str:
        """What the cache key uses for 'where': stable across ports of a local server."""
        if self.is_local:
            return f"local://{Path(self.model_path or '').name}"
        return safe_url(self.base_url or "")

    @property
    def supports_json_schema(self) -> bool:
        if self.structured_output == "none":
            return False
        if self.structured_output == "json_schema":
            return True
        return self.provider in ("openai", "local")

    def cost(self, input_tokens: int | None, output_tokens: int | None) -> float | None:
        if self.price_input is None and self.price_output is None:
            return None
        return (input_tokens or 0) * (self.price_input or 0.0) + (output_tokens or 0) * (
            self.price_output or 0.0
        )

    def public_dict(self) -> dict[str, Any]:
        """What `refusalkit endpoints` shows: settings, the key's variable, never the key."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if isinstance(value, Mapping) else value
        out["base_url"] = safe_url(self.base_url) if self.base_url else None
        out["api_key_set"] = bool(self.api_key_env and os.environ.get(self.api_key_env))
        return out


def safe_url(url: str | None) -> str:
    """The URL without user info, query or fragment (places where keys sometimes hide)."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def local_endpoint(model_path: str | None = None, *, name: str = LOCAL_NAME, **kw: Any) -> Endpoint:
    """The bundled SmolLM2 (or any GGUF) served by llama.cpp on 127.0.0.1."""
    from refusalkit.llm.local import bundled_gguf

    path = str(Path(model_path).expanduser()) if model_path else str(bundled_gguf())
    kw.setdefault("max_concurrency", kw.get("n_parallel", 4))  # one request per llama.cpp slot
    kw.setdefault("params", {"max_tokens": 256})
    return Endpoint(
        name=name, model=Path(path).name.removesuffix(".gguf"), provider="local",
        model_path=path, **kw,
    )  # fmt: skip


# ---------------------------------------------------------------------------- loading
_FIELD_NAMES = {f.name for f in fields(Endpoint)} - {"name"}
_ALIASES = {
    "price_input_per_million": ("price_input", 1e-6),
    "price_output_per_million": ("price_output", 1e-6),
}


@dataclass(slots=True)
class Config:
    """Parsed `refusalkit.toml`: named endpoints and the default's name."""

    endpoints: dict[str, Endpoint]
    default: str | None = None
    path: Path | None = None


def config_path() -> Path | None:
    env = os.environ.get(CONFIG_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={env} does not exist", hint=f"unset {CONFIG_ENV}")
        return path
    path = Path.cwd() / CONFIG_FILE
    return path if path.is_file() else None


def load_config(path: str | Path | None = None) -> Config:
    path = Path(path) if path is not None else config_path()
    if path is None:
        return Config(endpoints={})
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}", hint=_HINT) from exc
    extra = set(data) - {"default", "endpoints"}
    if extra:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(extra)}", hint=_HINT)
    tables = data.get("endpoints") or {}
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: [endpoints] must be a table of tables", hint=_HINT)
    endpoints = {name: _parse_endpoint(path, name, table) for name, table in tables.items()}
    default = data.get("default")
    if default is not None and default not in endpoints and default != LOCAL_NAME:
        raise ConfigError(
            f"{path}: default = {default!r} names no [endpoints.{default}] table",
            hint=f"configured endpoints: {', '.join(endpoints) or '(none)'}",
        )
    return Config(endpoints=endpoints, default=default, path=path)


def _parse_endpoint(path: Path, name: str, table: Any) -> Endpoint:
    where = f"{path}: [endpoints.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table", hint=_HINT)
    if "api_key" in table:
        raise ConfigError(
            f"{where}: API keys are never stored in the config file",
            hint='put the key in an environment variable and name it: api_key_env = "OPENAI_API_KEY"',
        )
    kw: dict[str, Any] = {}
    for key, value in table.items():
        if key in _ALIASES:
            target, scale = _ALIASES[key]
            kw[target] = float(value) * scale
        elif key in _FIELD_NAMES:
            kw[key] = value
        else:
            raise ConfigError(
                f"{where}: unknown key {key!r}",
                hint=f"known keys: {', '.join(sorted(_FIELD_NAMES | set(_ALIASES)))}",
            )
    provider = kw.get("provider", "openai")
    if provider not in PROVIDERS:
        raise ConfigError(f"{where}: provider {provider!r} is not one of {PROVIDERS}", hint=_HINT)
    for key, allowed in (("structured_output", STRUCTURED), ("transport", TRANSPORTS)):
        if key in kw and kw[key] not in allowed:
            raise ConfigError(f"{where}: {key} = {kw[key]!r} is not one of {allowed}", hint=_HINT)
    if "system" in kw and not isinstance(kw["system"], str):
        raise ConfigError(f"{where}: system must be a string", hint='system = "You are ..."')
    if "params" in kw and not isinstance(kw["params"], dict):
        raise ConfigError(f"{where}: params must be a table", hint=f"[endpoints.{name}.params]")
    for key in ("max_concurrency", "max_retries", "n_ctx", "n_parallel"):
        if key in kw and (
            not isinstance(kw[key], int) or kw[key] < (0 if key == "max_retries" else 1)
        ):
            raise ConfigError(f"{where}: {key} must be a positive integer", hint=_HINT)
    for key in ("rpm", "tpm", "timeout", "backoff_base", "backoff_max"):
        if key in kw and (not isinstance(kw[key], int | float) or kw[key] <= 0):
            raise ConfigError(f"{where}: {key} must be a positive number", hint=_HINT)
    if provider == "local":
        return local_endpoint(
            kw.pop("model_path", None),
            name=name,
            **{k: v for k, v in kw.items() if k != "provider"},
        )
    if not kw.get("base_url") and provider == "openai":
        raise ConfigError(
            f"{where}: base_url is required", hint='e.g. base_url = "https://api.openai.com/v1"'
        )
    if not kw.get("model"):
        raise ConfigError(f"{where}: model is required", hint='e.g. model = "gpt-4o-mini"')
    return Endpoint(name=name, **kw)


def env_endpoint() -> Endpoint | None:
    """The endpoint the REFUSALKIT_* variables describe, if any."""
    base = os.environ.get("REFUSALKIT_BASE_URL")
    model = os.environ.get("REFUSALKIT_MODEL", "")
    if not base and model.endswith(".gguf"):
        return local_endpoint(model, name=ENV_NAME)
    if not base and not model:
        return None
    key_env = "REFUSALKIT_API_KEY" if os.environ.get("REFUSALKIT_API_KEY") else None
    return Endpoint(
        name=ENV_NAME,
        base_url=base or "https://api.openai.com/v1",
        model=model,
        api_key_env=key_env,
    )


def all_endpoints(config: Config | None = None) -> dict[str, Endpoint]:
    """Every endpoint a name can select: configured ones, `env` when set, and `local`."""
    config = config if config is not None else load_config()
    out = dict(config.endpoints)
    env = env_endpoint()
    if env is not None and ENV_NAME not in out:
        out[ENV_NAME] = env
    if LOCAL_NAME not in out:
        out[LOCAL_NAME] = local_endpoint()
    return out


def default_name(config: Config | None = None) -> str:
    config = config if config is not None else load_config()
    if env_endpoint() is not None:
        return ENV_NAME
    return config.default or LOCAL_NAME


def resolve_endpoint(name: str | Endpoint | None = None, config: Config | None = None) -> Endpoint:
    """The endpoint a command's `--endpoint NAME` (or its absence) selects."""
    if isinstance(name, Endpoint):
        return name
    config = config if config is not None else load_config()
    name = name or default_name(config)
    if name in config.endpoints:
        return config.endpoints[name]
    if name == ENV_NAME and (env := env_endpoint()) is not None:
        return env
    if name == LOCAL_NAME:
        return local_endpoint()
    if name.endswith(".gguf") and Path(name).expanduser().is_file():
        return local_endpoint(name, name=Path(name).stem)
    known = sorted(all_endpoints(config))
    raise ConfigError(
        f"unknown endpoint {name!r}" + (f" (config: {config.path})" if config.path else ""),
        hint=f"known endpoints: {', '.join(known)}; add [endpoints.{name}] to {CONFIG_FILE}",
    )
