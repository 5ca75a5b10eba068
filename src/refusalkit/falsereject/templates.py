"""Prompt templates of the agent roles: bundled Markdown files the user can override.

A template file has a system part and a user part, each introduced by a marker line:

    (anything before the first marker is a comment for humans)
    <!-- system -->
    You are ...
    <!-- user -->
    Category: $category
    ...

Placeholders are `$name` / `${name}` (`$$` is a literal dollar sign), filled with
`string.Template`, which never re-reads substituted text: model output inserted into a
template cannot inject placeholders. Lookup order for template NAME: an explicit file
(`--template NAME=FILE`), then `NAME.md` in `--prompts DIR`, then the bundled copy in
`refusalkit/falsereject/prompts/`. Every variable used must be one the role provides, and
the variables a role needs must appear, so a typo fails before any call is made.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from refusalkit.core.errors import ConfigError

BUNDLED_DIR = Path(__file__).resolve().parent / "prompts"
_MARKER = re.compile(r"^<!--\s*(system|user)\s*-->\s*$", re.M)

#: template name -> (variables it may use, variables its user part must use)
VARIABLES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "extractor": (frozenset({"seed", "categories"}), frozenset({"seed"})),
    "generator": (
        frozenset({"category", "category_description", "domain", "subgraph", "feedback"}),
        frozenset({"category", "subgraph"}),
    ),
    "discriminator": (
        frozenset({"category", "category_description", "prompt"}),
        frozenset({"prompt"}),
    ),
    "orchestrator": (
        frozenset({"category", "category_description", "prompt"}),
        frozenset({"prompt", "category"}),
    ),
    "responder_instruct": (frozenset({"category", "prompt"}), frozenset({"prompt"})),
    "responder_cot": (frozenset({"category", "prompt"}), frozenset({"prompt"})),
    "responder_cot_json": (frozenset({"category", "prompt"}), frozenset({"prompt"})),
}
NAMES = tuple(VARIABLES)


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    system: str
    user: str
    source: str

    @property
    def digest(self) -> str:
        """Hash of the text (part of a stage's job fingerprint and of the provenance)."""
        return hashlib.sha256(f"{self.system}\x1f{self.user}".encode()).hexdigest()[:12]

    def render(self, **values: str) -> tuple[str, str]:
        """(system, user) with the placeholders filled."""
        return (
            Template(self.system).substitute(values).strip(),
            Template(self.user).substitute(values).strip(),
        )


def parse_template(name: str, text: str, source: str) -> PromptTemplate:
    parts: dict[str, str] = {}
    marks = list(_MARKER.finditer(text))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        if m.group(1) in parts:
            raise ConfigError(f"{source}: two <!-- {m.group(1)} --> sections", hint=_HINT)
        parts[m.group(1)] = text[m.end() : end].strip()
    if "user" not in parts:
        raise ConfigError(f"{source}: no <!-- user --> section", hint=_HINT)
    tpl = PromptTemplate(name, parts.get("system", ""), parts["user"], source)
    allowed, required = VARIABLES[name]
    for part_name, part in (("system", tpl.system), ("user", tpl.user)):
        t = Template(part)
        if not t.is_valid():
            raise ConfigError(
                f"{source}: invalid placeholder in the {part_name} part",
                hint="placeholders are $name or ${name}; write $$ for a literal $",
            )
        unknown = set(t.get_identifiers()) - allowed
        if unknown:
            raise ConfigError(
                f"{source}: unknown placeholder(s) {sorted(unknown)} in the {part_name} part",
                hint=f"template {name!r} may use: {', '.join(sorted(allowed))}",
            )
    missing = required - set(Template(tpl.user).get_identifiers())
    if missing:
        raise ConfigError(
            f"{source}: the user part must use {', '.join('$' + v for v in sorted(missing))}",
            hint=f"see the bundled {BUNDLED_DIR / (name + '.md')}",
        )
    return tpl


_HINT = "a template holds a '<!-- system -->' and a '<!-- user -->' marker line (see docs/falsereject.md)"


def load_template(
    name: str, prompts_dir: Path | None = None, overrides: dict[str, Path] | None = None
) -> PromptTemplate:
    if name not in VARIABLES:
        raise ConfigError(f"unknown template {name!r}", hint=f"templates: {', '.join(NAMES)}")
    path = (overrides or {}).get(name)
    if path is None and prompts_dir is not None:
        candidate = Path(prompts_dir) / f"{name}.md"
        path = candidate if candidate.is_file() else None
    if path is None:
        path = BUNDLED_DIR / f"{name}.md"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read template {path}: {exc}", hint="--template NAME=FILE"
        ) from exc
    return parse_template(name, text, str(path))


def check_overrides(prompts_dir: Path | None, overrides: dict[str, Path]) -> None:
    """Fail early on a misspelt template name or a folder that does not exist."""
    for name in overrides:
        if name not in VARIABLES:
            raise ConfigError(f"unknown template {name!r}", hint=f"templates: {', '.join(NAMES)}")
    if prompts_dir is not None:
        if not Path(prompts_dir).is_dir():
            raise ConfigError(f"--prompts {prompts_dir} is not a folder", hint="--prompts DIR")
        for path in Path(prompts_dir).glob("*.md"):
            if path.stem not in VARIABLES:
                raise ConfigError(
                    f"{path}: not a template name", hint=f"templates: {', '.join(NAMES)}"
                )
