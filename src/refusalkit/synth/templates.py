"""The prompt templates, refusal styles, phrasings and topics of `refusalkit synth`.

They are package data (`templates.yaml`, `topics.txt`) so a user can read and replace
them without touching code: `--templates FILE` overrides keys of the YAML (styles and
phrasings are merged by id), `--topics FILE` replaces the topic list. The effective
templates are hashed into `Templates.version`, which is part of a run's identity: a run
folder never mixes items written from two different sets of instructions.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from refusalkit.core.errors import ConfigError, DataError

_BUNDLED = "templates.yaml"
_TOPICS = "topics.txt"
_BEHAVIORS = ("full_refusal", "partial_refusal")


@dataclass(frozen=True, slots=True)
class Style:
    """A refusal style: the instruction given to the writer and the label it yields."""

    id: str
    rule: str
    behavior: str
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Templates:
    """The effective templates; `version` = declared version + hash of the content."""

    data: dict[str, Any]
    styles: dict[str, Style]
    phrasings: dict[str, str]
    system_prompt_categories: frozenset[str]
    version: str
    source: str

    def text(self, *path: str) -> str:
        node: Any = self.data
        for key in path:
            if not isinstance(node, dict) or key not in node:
                raise ConfigError(
                    f"template {'.'.join(path)!r} is missing in {self.source}",
                    hint="see the bundled refusalkit/synth/templates.yaml for the layout",
                )
            node = node[key]
        if not isinstance(node, str):
            raise ConfigError(f"template {'.'.join(path)!r} in {self.source} is not text")
        return node

    def render(self, *path: str, **values: Any) -> str:
        """Fill a template's `$name` placeholders; an unknown placeholder is an error."""
        text = self.text(*path)
        try:
            return string.Template(text).substitute(values).strip()
        except KeyError as exc:
            raise ConfigError(
                f"template {'.'.join(path)!r} in {self.source} uses the unknown placeholder "
                f"${exc.args[0]}",
                hint=f"placeholders available here: {', '.join(sorted(values))}",
            ) from None
        except ValueError as exc:
            raise ConfigError(
                f"template {'.'.join(path)!r} in {self.source}: {exc}",
                hint="write $$ for a literal dollar sign",
            ) from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path | None) -> tuple[dict[str, Any], str]:
    if path is None:
        raw = files("refusalkit.synth").joinpath(_BUNDLED).read_text(encoding="utf-8")
        name = f"<bundled {_BUNDLED}>"
    else:
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read templates {path}: {exc}", hint="--templates FILE"
            ) from None
        name = str(path)
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"not valid YAML: {exc}", file=name, hint="--templates FILE") from None
    if not isinstance(data, dict):
        raise DataError("templates must be a YAML mapping", file=name, hint="--templates FILE")
    return data, name


def load_templates(override: str | Path | None = None) -> Templates:
    """The bundled templates, with the keys of `override` (a YAML file) replacing theirs."""
    data, source = _read_yaml(None)
    if override is not None:
        extra, source = _read_yaml(Path(override))
        data = _merge(data, extra)
    styles: dict[str, Style] = {}
    for sid, spec in (data.get("styles") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("rule"), str):
            raise DataError(f"style {sid!r} needs a `rule` text", file=source, field="styles")
        behavior = spec.get("behavior", "full_refusal")
        if behavior not in _BEHAVIORS:
            raise DataError(
                f"style {sid!r}: behavior must be one of {', '.join(_BEHAVIORS)}",
                file=source,
            )
        styles[str(sid)] = Style(str(sid), spec["rule"], behavior, tuple(spec.get("exclude") or ()))
    phrasings = {str(k): str(v) for k, v in (data.get("phrasings") or {}).items()}
    if not styles or not phrasings:
        raise DataError("the templates define no styles or no phrasings", file=source)
    canonical = yaml.safe_dump(data, sort_keys=True, allow_unicode=True)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
    return Templates(
        data=data,
        styles=styles,
        phrasings=phrasings,
        system_prompt_categories=frozenset(data.get("system_prompt_categories") or ()),
        version=f"{data.get('version', '0')}+{digest}",
        source=source,
    )


def load_topics(path: str | Path | None = None) -> list[str]:
    """Topics, one per line (blank lines and `#` comments skipped), bundled by default."""
    if path is None:
        raw = files("refusalkit.synth").joinpath(_TOPICS).read_text(encoding="utf-8")
        name = f"<bundled {_TOPICS}>"
    else:
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read topics {path}: {exc}", hint="--topics FILE") from None
        name = str(path)
    topics: list[str] = []
    seen: set[str] = set()
    for line in raw.splitlines():
        topic = line.split("#", 1)[0].strip()
        if topic and topic.casefold() not in seen:
            seen.add(topic.casefold())
            topics.append(topic)
    if not topics:
        raise DataError("the topic list is empty", file=name, hint="one topic per line")
    return topics
