"""Export a taxonomy as YAML, JSON or Markdown (the source of docs/taxonomy.md).

YAML and JSON exports are the file schema itself, so they load again unchanged. The
Markdown rendering escapes every string: a user's taxonomy file may contain anything,
and the output may end up in an HTML page.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from refusalkit.taxonomy.schema import GROUPS, FalseRejectTaxonomy, Taxonomy

FORMATS = ("yaml", "json", "markdown")
_GROUP_TITLES = {"should_not": "Should not", "cannot": "Cannot", "other": "Other"}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so exported examples stay readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def to_yaml(tax: Taxonomy | FalseRejectTaxonomy) -> str:
    return yaml.dump(tax.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def to_json(tax: Taxonomy | FalseRejectTaxonomy) -> str:
    from refusalkit.core.io import dumps_pretty

    return dumps_pretty(tax.to_dict()) + "\n"


def export(tax: Taxonomy | FalseRejectTaxonomy, fmt: str, *, heading_level: int = 1) -> str:
    """Render in one of FORMATS."""
    if fmt == "yaml":
        return to_yaml(tax)
    if fmt == "json":
        return to_json(tax)
    if fmt == "markdown":
        return to_markdown(tax, heading_level=heading_level)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# ------------------------------------------------------------------------------ Markdown


def md(text: Any) -> str:
    """Escape text for inline Markdown: no HTML, links, code, emphasis or table breaks."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = re.sub(r"([\\`*\[\]|])", r"\\\1", s)
    return s.replace("\r\n", "\n").replace("\n", "<br>")


def _code(text: str) -> str:
    """An inline code span that the text cannot break out of."""
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def to_markdown(tax: Taxonomy | FalseRejectTaxonomy, *, heading_level: int = 1) -> str:
    if isinstance(tax, FalseRejectTaxonomy):
        return _falsereject_markdown(tax, heading_level)
    return _refusal_markdown(tax, heading_level)


def _h(level: int, text: str) -> str:
    return "#" * min(level, 6) + " " + text


def _intro(tax: Taxonomy | FalseRejectTaxonomy, title: str, level: int) -> list[str]:
    out = [_h(level, f"{title} {_code(tax.name)} (version {md(tax.version)})"), ""]
    if tax.description:
        out += [md(tax.description), ""]
    if tax.reference:
        out += [f"*Reference:* {md(tax.reference)}", ""]
    return out


def _refusal_markdown(tax: Taxonomy, level: int) -> str:
    out = _intro(tax, "Refusal taxonomy", level)
    out += ["| # | id | name | group |", "|---:|---|---|---|"]
    for i, c in enumerate(tax.categories, 1):
        out.append(f"| {i} | {_code(c.id)} | {md(c.name)} | {c.group} |")
    out.append("")
    for group in GROUPS:
        members = [c for c in tax.categories if c.group == group]
        if not members:
            continue
        out += [_h(level + 1, f"{_GROUP_TITLES[group]} ({group})"), ""]
        if tax.groups.get(group):
            out += [md(tax.groups[group]), ""]
        for c in members:
            out += [_h(level + 2, f"{_code(c.id)}: {md(c.name)}"), ""]
            out += [f"**Definition.** {md(c.definition)}", ""]
            if c.distinguish:
                out += [f"**How it differs from its neighbours.** {md(c.distinguish)}", ""]
            if c.cues:
                out += ["**Typical cues:** " + ", ".join(_code(q) for q in c.cues), ""]
            if c.examples:
                out += ["**Examples:**", ""]
                for n, ex in enumerate(c.examples, 1):
                    label = "Response" if c.is_refusal else "Response (compliant)"
                    lines = [f"{n}. "]
                    if ex.system:
                        lines[0] += f"*System:* {md(ex.system)}<br>"
                    lines[0] += f"*User:* {md(ex.instruction)}<br>*{label}:* {md(ex.response)}"
                    out += lines
                out.append("")
    return "\n".join(out).rstrip() + "\n"


def _falsereject_markdown(tax: FalseRejectTaxonomy, level: int) -> str:
    out = _intro(tax, "FalseReject safety taxonomy", level)
    for domain in tax.domains:
        members = tax.in_domain(domain.id)
        if not members:
            continue
        ids = f"{members[0].id}-{members[-1].id}" if len(members) > 1 else str(members[0].id)
        out += [_h(level + 1, f"{md(domain.name)} ({_code(domain.id)}, ids {ids})"), ""]
        if domain.description:
            out += [md(domain.description), ""]
        out += ["| id | name | description |", "|---:|---|---|"]
        for c in members:
            desc = md(c.description)
            if c.aliases:
                desc += " *Also written:* " + "; ".join(md(a) for a in c.aliases) + "."
            out.append(f"| {c.id} | {md(c.name)} | {desc} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# ------------------------------------------------------------------------------ summaries


def summarize(tax: Taxonomy | FalseRejectTaxonomy) -> dict[str, Any]:
    """Counts for `taxonomy validate`, with a one-line human form under 'text'."""
    if isinstance(tax, FalseRejectTaxonomy):
        per_domain = {d.id: len(tax.in_domain(d.id)) for d in tax.domains}
        text = (
            f"FalseReject taxonomy {tax.name!r} version {tax.version}: {len(tax)} categories "
            f"in {len(tax.domains)} domains ({', '.join(f'{k} {v}' for k, v in per_domain.items())})"
        )
        return {
            "kind": "falsereject",
            "name": tax.name,
            "version": tax.version,
            "categories": len(tax),
            "domains": per_domain,
            "text": text,
        }
    per_group = {g: len(tax.ids_in_group(g)) for g in GROUPS}
    n_examples = sum(len(c.examples) for c in tax.categories)
    n_cues = sum(len(c.cues) for c in tax.categories)
    text = (
        f"refusal taxonomy {tax.name!r} version {tax.version}: {len(tax)} categories "
        f"({', '.join(f'{k} {v}' for k, v in per_group.items())}), "
        f"{n_examples} examples, {n_cues} cues"
    )
    return {
        "kind": "refusal",
        "name": tax.name,
        "version": tax.version,
        "categories": len(tax),
        "groups": per_group,
        "examples": n_examples,
        "cues": n_cues,
        "text": text,
    }


def lint(tax: Taxonomy | FalseRejectTaxonomy) -> list[str]:
    """Advice that is not an error: what LLM judges and synthetic data would miss."""
    if isinstance(tax, FalseRejectTaxonomy):
        missing = [str(c.id) for c in tax.categories if not c.description]
        return [f"categories without a description: {', '.join(missing)}"] if missing else []
    notes = []
    for label, pick in (
        ("without a 'distinguish' text", lambda c: not c.distinguish),
        ("with fewer than 3 examples", lambda c: len(c.examples) < 3),
        ("without cues", lambda c: not c.cues),
    ):
        ids = [c.id for c in tax.categories if pick(c)]
        if ids:
            notes.append(f"categories {label}: {', '.join(ids)}")
    return notes
