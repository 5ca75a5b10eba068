"""Load the bundled taxonomies or a user's file of the same schema.

The bundled files are parsed once per process (`functools.cache`) but every call builds
fresh objects, so a caller that edits its copy cannot change what others see. Building
the 16-category taxonomy from the cached document takes about a millisecond: load it once
per run, not once per row.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from refusalkit.taxonomy.parsing import LineIndex, detect_kind, read_document
from refusalkit.taxonomy.schema import FalseRejectTaxonomy, Taxonomy
from refusalkit.taxonomy.validation import build_falsereject_taxonomy, build_taxonomy

_HERE = Path(__file__).resolve().parent
#: The bundled refusal taxonomy (16 categories, von Recum et al. 2024).
REFUSAL_TAXONOMY_PATH = _HERE / "refusal_taxonomy.yaml"
#: The bundled FalseReject / SORRY-Bench safety-topic taxonomy (ids 1-46).
FALSEREJECT_TAXONOMY_PATH = _HERE / "falsereject_taxonomy.yaml"
#: Names accepted wherever a taxonomy can be chosen (`--taxonomy NAME|PATH`).
BUNDLED = {"refusal": REFUSAL_TAXONOMY_PATH, "falsereject": FALSEREJECT_TAXONOMY_PATH}


@functools.cache
def _bundled_document(path: Path) -> tuple[Any, LineIndex]:
    return read_document(path)


def _document(path: str | Path) -> tuple[Any, LineIndex, str]:
    p = Path(path)
    if p.resolve() in (REFUSAL_TAXONOMY_PATH, FALSEREJECT_TAXONOMY_PATH):
        data, lines = _bundled_document(p.resolve())
        return data, lines, f"<bundled {p.name}>"
    data, lines = read_document(p)
    return data, lines, str(p)


def load_taxonomy(path: str | Path | Mapping[str, Any] | None = None) -> Taxonomy:
    """The refusal taxonomy: bundled when `path` is None, else a YAML/JSON file (or a dict).

    Raises `ConfigError` naming the file, line, category and field of any problem.
    """
    if isinstance(path, Mapping):
        return build_taxonomy(path, "<dict>")
    data, lines, source = _document(REFUSAL_TAXONOMY_PATH if path is None else path)
    return build_taxonomy(data, source, lines)


def load_falsereject_taxonomy(
    path: str | Path | Mapping[str, Any] | None = None,
) -> FalseRejectTaxonomy:
    """The FalseReject (SORRY-Bench) safety taxonomy: bundled when None, else a file or dict."""
    if isinstance(path, Mapping):
        return build_falsereject_taxonomy(path, "<dict>")
    data, lines, source = _document(FALSEREJECT_TAXONOMY_PATH if path is None else path)
    return build_falsereject_taxonomy(data, source, lines)


def load_any(spec: str | Path) -> Taxonomy | FalseRejectTaxonomy:
    """`refusal`, `falsereject`, or a file whose kind is detected (`kind:` or integer ids)."""
    if isinstance(spec, str) and spec in BUNDLED and not Path(spec).is_file():
        return load_taxonomy() if spec == "refusal" else load_falsereject_taxonomy()
    data, lines, source = _document(spec)
    if detect_kind(data) == "falsereject":
        return build_falsereject_taxonomy(data, source, lines)
    return build_taxonomy(data, source, lines)
