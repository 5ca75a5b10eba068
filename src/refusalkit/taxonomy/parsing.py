"""Parse taxonomy files (YAML or JSON) keeping line numbers for later error messages.

YAML is composed into nodes first and constructed from them, so a semantic error found
afterwards (a bad group, a duplicate id) can still name its line; duplicate mapping keys,
which PyYAML would silently collapse, are reported instead of dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from refusalkit.core.errors import ConfigError

DocPath = tuple[str | int, ...]


class LineIndex:
    """Maps a path inside the document (keys and list indexes) to its 1-based YAML line."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.node = node

    def line(self, path: DocPath) -> int | None:
        node = self.node
        if node is None:
            return None
        best = node.start_mark.line + 1
        for step in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == step:
                        child = value
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(step, int)
                and 0 <= step < len(node.value)
            ):
                child = node.value[step]
            if child is None:
                break
            node = child
            best = node.start_mark.line + 1
        return best


def read_document(path: str | Path) -> tuple[Any, LineIndex]:
    """Parse a YAML or JSON file; syntax errors become ConfigErrors with line numbers."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"taxonomy file not found: {path}",
            hint="pass `refusal`, `falsereject` or the path of an existing YAML/JSON file",
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} line {line}: not valid UTF-8 (byte {exc.start})",
            hint="save the file as UTF-8",
        ) from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text), LineIndex(None)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path} line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}",
                hint="fix the JSON syntax (a trailing comma or a missing quote is typical)",
            ) from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str = "<string>") -> tuple[Any, LineIndex]:
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_duplicate_keys(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source} line {mark.line + 1} column {mark.column + 1}" if mark else source
        detail = str(exc.problem or exc.context or "syntax error")
        if exc.context and exc.problem:
            ctx = exc.context_mark
            at = f" at line {ctx.line + 1} column {ctx.column + 1}" if ctx else ""
            detail += f" ({exc.context}{at})"
        raise ConfigError(
            f"{where}: invalid YAML: {detail}",
            hint="check indentation and quoting; text containing ': ' or '#' needs quotes or `>-`",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, LineIndex(node)


def _check_duplicate_keys(node: yaml.Node, source: str) -> None:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise ConfigError(
                            f"{source} line {key.start_mark.line + 1}: duplicate key "
                            f"{key.value!r} (first on line {seen[key.value]})",
                            hint="remove or rename one of them; YAML keeps only the last",
                        )
                    seen[key.value] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def detect_kind(data: Any) -> str:
    """'refusal' or 'falsereject': the `kind` field, else integer ids or `domains`."""
    if isinstance(data, Mapping):
        kind = data.get("kind")
        if isinstance(kind, str) and kind in ("refusal", "falsereject"):
            return kind
        if "domains" in data:
            return "falsereject"
        cats = data.get("categories")
        if isinstance(cats, list) and cats and isinstance(cats[0], Mapping):
            first = cats[0].get("id")
            if isinstance(first, int) and not isinstance(first, bool):
                return "falsereject"
    return "refusal"
