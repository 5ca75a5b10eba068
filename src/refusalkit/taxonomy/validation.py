"""Read a taxonomy file and check it field by field, with errors a user can act on.

Taxonomies are written by hand, so every problem is reported as a `ConfigError` naming
the file, the line (YAML, via `parsing.LineIndex`), the category (index and id) and the
field, with a hint that says how to fix it. Validation builds the schema objects, so a
`Taxonomy` that exists is a valid one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.taxonomy.parsing import DocPath, LineIndex, detect_kind
from refusalkit.taxonomy.schema import (
    GROUPS,
    ID_PATTERN,
    NOT_REFUSAL,
    Category,
    Domain,
    Example,
    FalseRejectCategory,
    FalseRejectTaxonomy,
    Taxonomy,
    name_key,
)

_TOP_KEYS = ("kind", "name", "version", "description", "reference", "groups", "categories")
_CATEGORY_KEYS = (
    "id",
    "name",
    "group",
    "definition",
    "distinguish",
    "cues",
    "examples",
    "metadata",
)
_EXAMPLE_KEYS = ("system", "instruction", "response")
_FR_TOP_KEYS = ("kind", "name", "version", "description", "reference", "domains", "categories")
_FR_CATEGORY_KEYS = ("id", "name", "domain", "description", "aliases")
_DOMAIN_KEYS = ("id", "name", "description")
_SCHEMA_HINT = "see docs/taxonomy.md or `refusalkit taxonomy export --format yaml` for the schema"


class _Checker:
    """Collects context (file, lines) so each check can raise a precise ConfigError."""

    def __init__(self, source: str, lines: LineIndex, data: Any) -> None:
        self.source = source
        self.lines = lines
        self.data = data

    def fail(self, path: DocPath, problem: str, hint: str | None = None) -> ConfigError:
        line = self.lines.line(path)
        where = self.source + (f" line {line}" if line is not None else "")
        return ConfigError(f"{where}: {_describe(path, self.data)}{problem}", hint=hint)

    def mapping(self, value: Any, path: DocPath, what: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"{what} must be a mapping, got {_type(value)}", _SCHEMA_HINT)
        return value

    def keys(self, value: Mapping[str, Any], allowed: tuple[str, ...], path: DocPath) -> None:
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.fail(
                    (*path, key),
                    f"unknown field {key!r}",
                    f"{hint}allowed fields: {', '.join(allowed)}",
                )

    def text(self, value: Mapping[str, Any], key: str, path: DocPath, *, required: bool) -> str:
        if key not in value or value[key] is None:
            if required:
                raise self.fail(path, f"missing required field {key!r}", f"add `{key}: ...`")
            return ""
        v = value[key]
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise self.fail((*path, key), f"must be text, got {_type(v)}")
        v = str(v).strip()
        if required and not v:
            raise self.fail((*path, key), "is empty", f"give {key!r} a value")
        return v

    def str_list(self, value: Mapping[str, Any], key: str, path: DocPath) -> list[str]:
        v = value.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(
                (*path, key),
                f"must be a list, got {_type(v)}",
                f'write {key} as a YAML list: `{key}: ["first", "second"]`',
            )
        out = []
        for i, item in enumerate(v):
            if not isinstance(item, str) or not item.strip():
                raise self.fail((*path, key, i), "must be non-empty text")
            out.append(item.strip())
        return out


def _describe(path: DocPath, data: Any) -> str:
    """'categories[3] (id 'privacy'), field 'group': ' for a path into the document."""
    if not path:
        return ""
    parts: list[str] = []
    node = data
    for i, step in enumerate(path):
        if isinstance(step, int):
            label = f"[{step}]"
            if isinstance(node, list) and 0 <= step < len(node):
                node = node[step]
                if i == 1 and isinstance(node, Mapping) and node.get("id") is not None:
                    label += f" (id {node.get('id')!r})"
            else:
                node = None
            parts[-1] = parts[-1] + label if parts else label
        else:
            if i == 0:
                parts.append(f"field {step!r}" if len(path) == 1 else str(step))
            elif i == len(path) - 1:
                parts.append(f"field {step!r}")
            else:
                parts.append(str(step))
            node = node.get(step) if isinstance(node, Mapping) else None
    return ", ".join(parts) + ": "


def _type(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _top(check: _Checker, data: Any, kind: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if data is None:
        raise check.fail((), "the file is empty", _SCHEMA_HINT)
    top = check.mapping(data, (), "the top level")
    declared = top.get("kind")
    other = (
        "load_falsereject_taxonomy / --taxonomy falsereject"
        if kind == "refusal"
        else "load_taxonomy / --taxonomy refusal"
    )
    hint = f"use {other}, or `refusalkit taxonomy validate FILE`, which detects the kind"
    if declared is None and detect_kind(top) != kind:
        raise check.fail(
            (),
            f"this looks like a {detect_kind(top)!r} taxonomy (integer ids or 'domains'), "
            f"not a {kind!r} one",
            hint,
        )
    if declared is not None and declared != kind:
        raise check.fail(
            ("kind",), f"this is a {declared!r} taxonomy file, expected {kind!r}", hint
        )
    check.keys(top, keys, ())
    cats = top.get("categories")
    if not isinstance(cats, list) or not cats:
        problem = (
            "missing 'categories'" if cats is None else "'categories' must be a non-empty list"
        )
        raise check.fail(("categories",) if cats is not None else (), problem, _SCHEMA_HINT)
    return top


def _header(check: _Checker, top: Mapping[str, Any], source: str) -> dict[str, str]:
    fallback = Path(source).stem if source and not source.startswith("<") else "custom"
    return {
        "name": check.text(top, "name", (), required=False) or fallback,
        "version": check.text(top, "version", (), required=False) or "0",
        "description": check.text(top, "description", (), required=False),
        "reference": check.text(top, "reference", (), required=False),
    }


# ------------------------------------------------------------------------ refusal taxonomy


def build_taxonomy(data: Any, source: str = "<dict>", lines: LineIndex | None = None) -> Taxonomy:
    """Validate a parsed refusal-taxonomy document and build the `Taxonomy`."""
    check = _Checker(source, lines or LineIndex(None), data)
    top = _top(check, data, "refusal", _TOP_KEYS)
    groups: dict[str, str] = {}
    if top.get("groups") is not None:
        for key in check.mapping(top["groups"], ("groups",), "'groups'"):
            if key not in GROUPS:
                raise check.fail(
                    ("groups", key), f"unknown group {key!r}", f"groups are {', '.join(GROUPS)}"
                )
            groups[key] = check.text(top["groups"], key, ("groups",), required=True)

    categories: list[Category] = []
    first_index: dict[str, int] = {}
    for i, raw in enumerate(top["categories"]):
        path: DocPath = ("categories", i)
        cat = check.mapping(raw, path, f"categories[{i}]")
        check.keys(cat, _CATEGORY_KEYS, path)
        cid = check.text(cat, "id", path, required=True)
        if not ID_PATTERN.match(cid):
            raise check.fail(
                (*path, "id"),
                f"bad id {cid!r}: ids are lower-case letters, digits and '_', starting with a letter",
                f"for example {_slug(cid)!r}",
            )
        if cid in first_index:
            raise check.fail(
                (*path, "id"),
                f"duplicate id {cid!r} (also categories[{first_index[cid]}])",
                "give every category a unique id",
            )
        first_index[cid] = i
        group = check.text(cat, "group", path, required=True)
        group = "other" if group == "none" else group
        if group not in GROUPS:
            raise check.fail(
                (*path, "group"),
                f"unknown group {group!r}",
                f"set group to one of {', '.join(GROUPS)}",
            )
        metadata = cat.get("metadata") or {}
        check.mapping(metadata, (*path, "metadata"), "'metadata'")
        categories.append(
            Category(
                id=cid,
                name=check.text(cat, "name", path, required=True),
                group=group,
                definition=check.text(cat, "definition", path, required=True),
                distinguish=check.text(cat, "distinguish", path, required=False),
                examples=_examples(check, cat, path),
                cues=check.str_list(cat, "cues", path),
                metadata=dict(metadata),
            )
        )

    if NOT_REFUSAL not in first_index:
        raise check.fail(
            ("categories",),
            f"the taxonomy has no {NOT_REFUSAL!r} category",
            f"add a category with `id: {NOT_REFUSAL}` and `group: other` (compliant responses)",
        )
    nr = first_index[NOT_REFUSAL]
    if categories[nr].group != "other":
        raise check.fail(
            ("categories", nr, "group"),
            f"{NOT_REFUSAL!r} must be in group 'other', not {categories[nr].group!r}",
            "set `group: other`",
        )
    if len(categories) < 2:
        raise check.fail(("categories",), "a taxonomy needs at least one refusal category")
    return Taxonomy(
        categories=categories, groups=groups, source=source, **_header(check, top, source)
    )


def _examples(check: _Checker, cat: Mapping[str, Any], path: DocPath) -> list[Example]:
    raw = cat.get("examples")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise check.fail(
            (*path, "examples"),
            f"must be a list, got {_type(raw)}",
            "write each example as a list item: `- instruction: ...` / `  response: ...`",
        )
    out = []
    for j, ex in enumerate(raw):
        epath = (*path, "examples", j)
        ex = check.mapping(ex, epath, f"examples[{j}]")
        check.keys(ex, _EXAMPLE_KEYS, epath)
        system = check.text(ex, "system", epath, required=False) or None
        out.append(
            Example(
                instruction=check.text(ex, "instruction", epath, required=True),
                response=check.text(ex, "response", epath, required=True),
                system=system,
            )
        )
    return out


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug if slug and slug[0].isalpha() else f"c_{slug}"


# ---------------------------------------------------------------------- FalseReject taxonomy


def build_falsereject_taxonomy(
    data: Any, source: str = "<dict>", lines: LineIndex | None = None
) -> FalseRejectTaxonomy:
    """Validate a parsed FalseReject-taxonomy document and build the taxonomy."""
    check = _Checker(source, lines or LineIndex(None), data)
    top = _top(check, data, "falsereject", _FR_TOP_KEYS)
    raw_domains = top.get("domains")
    if not isinstance(raw_domains, list) or not raw_domains:
        raise check.fail(
            ("domains",) if raw_domains is not None else (),
            "missing 'domains'" if raw_domains is None else "'domains' must be a non-empty list",
            "list the domains: `domains: [{id: hate_speech, name: Hate speech}, ...]`",
        )
    domains: list[Domain] = []
    for i, raw in enumerate(raw_domains):
        path: DocPath = ("domains", i)
        d = check.mapping(raw, path, f"domains[{i}]")
        check.keys(d, _DOMAIN_KEYS, path)
        did = check.text(d, "id", path, required=True)
        if not ID_PATTERN.match(did):
            raise check.fail((*path, "id"), f"bad domain id {did!r}", f"for example {_slug(did)!r}")
        if any(x.id == did for x in domains):
            raise check.fail((*path, "id"), f"duplicate domain id {did!r}")
        domains.append(
            Domain(
                did,
                check.text(d, "name", path, required=True),
                check.text(d, "description", path, required=False),
            )
        )
    known_domains = [d.id for d in domains]

    categories: list[FalseRejectCategory] = []
    seen_ids: dict[int, int] = {}
    seen_names: dict[str, int] = {}
    for i, raw in enumerate(top["categories"]):
        path = ("categories", i)
        c = check.mapping(raw, path, f"categories[{i}]")
        check.keys(c, _FR_CATEGORY_KEYS, path)
        if "id" not in c:
            raise check.fail(
                path, "missing required field 'id'", "add `id: N` (a positive integer)"
            )
        cid = c["id"]
        if isinstance(cid, bool) or not isinstance(cid, int) or cid < 1:
            raise check.fail(
                (*path, "id"), f"id must be a positive integer, got {cid!r}", "write e.g. `id: 12`"
            )
        if cid in seen_ids:
            raise check.fail(
                (*path, "id"), f"duplicate id {cid} (also categories[{seen_ids[cid]}])"
            )
        seen_ids[cid] = i
        name = check.text(c, "name", path, required=True)
        domain = check.text(c, "domain", path, required=True)
        if domain not in known_domains:
            raise check.fail(
                (*path, "domain"),
                f"unknown domain {domain!r}",
                f"declared domains: {', '.join(known_domains)}",
            )
        aliases = check.str_list(c, "aliases", path)
        for n in (name, *aliases):
            key = name_key(n)
            if not key:
                raise check.fail((*path, "name"), f"name {n!r} has no letters or digits")
            if seen_names.get(key, i) != i:
                raise check.fail(
                    (*path, "name" if n == name else "aliases"),
                    f"name {n!r} clashes with categories[{seen_names[key]}] "
                    "(names are compared ignoring case, punctuation and '&'/'and')",
                    "rename one of them",
                )
            seen_names[key] = i
        categories.append(
            FalseRejectCategory(
                id=cid,
                name=name,
                domain=domain,
                description=check.text(c, "description", path, required=False),
                aliases=aliases,
            )
        )
    return FalseRejectTaxonomy(
        categories=categories, domains=domains, source=source, **_header(check, top, source)
    )
