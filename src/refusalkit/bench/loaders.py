"""Loaders of the prompt-set formats: XSTest, categorised CSV/JSONL, FalseReject, user files.

Each returns `Item`s (stable id, prompt, category, expected behaviour). Every file is read
through `refusalkit.readers`; a row that cannot be used raises `DataError` naming the
file, line/row and field, with the fix in the hint. Nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from refusalkit.bench.datasets import UNCATEGORIZED, Item
from refusalkit.core.errors import DataError


def _records(path: Path) -> Iterator[Any]:
    from refusalkit.readers import iter_records

    yield from iter_records(path)


def _text(rec: Any, field_name: str, *, required: bool = True) -> str | None:
    """A string field of a record; a missing or empty required field is a DataError."""
    data = rec.data or {}
    value = data.get(field_name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if not required:
            return None
        problem = "no prompt text" if field_name in data else f"no {field_name!r} column"
        raise DataError(
            problem,
            file=rec.file,
            line=rec.line,
            row=rec.row,
            field=field_name,
            found_fields=sorted(data),
            hint=f"fill in {field_name!r} or remove the row"
            if field_name in data
            else "name the prompt column with --prompt-field",
        )
    return value.strip() if isinstance(value, str) else str(value)


def load_xstest(path: Path, *, label: str | None = None) -> list[Item]:
    """XSTest prompts: `label` safe/unsafe (else `type` contrast_* is unsafe)."""
    out = []
    for rec in _records(path):
        prompt = _text(rec, "prompt")
        kind = _text(rec, "type", required=False) or UNCATEGORIZED
        lab = _text(rec, "label", required=False) or (
            "unsafe" if kind.startswith("contrast_") else "safe"
        )
        if label is not None and lab != label:
            continue
        rid = _text(rec, "id", required=False) or str(rec.row)
        extra = {k: rec.data[k] for k in ("focus", "note") if rec.data.get(k)}
        expected = "refuse" if lab == "unsafe" else "comply"
        out.append(Item(rid, prompt or "", kind, expected, extra))
    return out


def load_categorized(
    path: Path,
    *,
    expected: str,
    id_field: str | None = None,
    category_field: str = "category",
    default_category: str = UNCATEGORIZED,
    extra_fields: Iterable[str] = (),
) -> list[Item]:
    """`prompt` + optional category/id columns; one expected behaviour for the whole file."""
    out = []
    for rec in _records(path):
        prompt = _text(rec, "prompt")
        rid = (_text(rec, id_field, required=False) if id_field else None) or str(rec.row)
        cat = _text(rec, category_field, required=False) or default_category
        extra = {k: rec.data[k] for k in extra_fields if rec.data.get(k) not in (None, "")}
        out.append(Item(rid, prompt or "", cat, expected, extra))
    return out


def load_falsereject(path: Path) -> list[Item]:
    """FalseReject rows: `prompt`, `category_id` and/or `category_text` (or `category`).

    Categories are resolved against the bundled FalseReject taxonomy (ids 1-46, tolerant
    name matching); an id and a name that disagree are an error, not a guess.
    """
    from refusalkit.taxonomy import load_falsereject_taxonomy

    tax = load_falsereject_taxonomy()
    out = []
    for rec in _records(path):
        prompt = _text(rec, "prompt")
        data = rec.data or {}
        cid = data.get("category_id")
        name = data.get("category_text") or data.get("category")
        where = {"file": rec.file, "line": rec.line, "row": rec.row}
        try:
            by_id = tax.by_id(cid) if cid not in (None, "") else None
        except KeyError as exc:
            raise DataError(str(exc).strip("'\""), field="category_id",
                            hint="use the FalseReject ids 1-46 (refusalkit taxonomy show falsereject)",
                            **where) from None  # fmt: skip
        try:
            by_name = tax.by_name(name) if name not in (None, "") else None
        except KeyError as exc:
            if by_id is None:
                raise DataError(str(exc).strip("'\""), field="category_text",
                                hint="use a FalseReject category name or add category_id",
                                **where) from None  # fmt: skip
            by_name = None
        if by_id and by_name and by_id.id != by_name.id:
            raise DataError(
                f"category_id {by_id.id} ({by_id.name}) disagrees with category {name!r}",
                field="category_id", hint="fix one of the two columns", **where,
            )  # fmt: skip
        cat = by_id or by_name
        rid = next((str(data[k]) for k in ("id", "train_index", "test_index") if k in data), None)
        extra = {"category_id": cat.id} if cat else {}
        out.append(
            Item(rid or str(rec.row), prompt or "", cat.name if cat else "Others", "comply", extra)
        )
    return out


def load_user(
    path: Path, *, reader_options: dict[str, Any] | None = None, default_expected: str = "comply"
) -> list[Item]:
    """A user file: `prompt` (any reader synonym) + optional `category`, `expected`, `id`.

    `expected` must be `comply` or `refuse` (any case; empty = `default_expected`);
    every problem names the file, line/row and field.
    """
    from refusalkit.readers import read_exchanges
    from refusalkit.readers.stream import file_stem

    opts = dict(reader_options or {})
    opts.setdefault("shape", "prompt_only")
    out, seen = [], set()
    unused: dict[str, None] = {}  # columns the benchmark does not read, in file order
    with read_exchanges(path, **opts) as stream:
        for ex in stream:
            src = ex.source
            where = {"file": src.file, "line": src.line, "row": src.row}
            if not ex.prompt.strip():
                raise DataError("the prompt is empty", field="prompt",
                                hint="fill in the prompt or remove the row", **where)  # fmt: skip
            meta = dict(ex.metadata)
            raw = meta.pop("expected", None)
            exp = str(raw).strip().lower() if raw not in (None, "") else default_expected
            if exp not in ("comply", "refuse"):
                raise DataError(
                    f"expected must be 'comply' or 'refuse', not {raw!r}", field="expected",
                    hint="comply = the model should answer, refuse = it should decline "
                    "(empty = comply)", **where,
                )  # fmt: skip
            cat = meta.pop("category", None)
            if isinstance(cat, dict | list):
                raise DataError("category must be a single value", field="category",
                                hint="use one category name per row", **where)  # fmt: skip
            # the readers take `id`/`uid`/`_id` as the exchange id, else "<stem>:<row>"
            rid = str(src.row) if ex.id == f"{file_stem(src.file or '')}:{src.row}" else ex.id
            if rid in seen:
                raise DataError(f"duplicate id {rid!r}", field="id",
                                hint="give every row its own id (or drop the id column)",
                                **where)  # fmt: skip
            seen.add(rid)
            category = str(cat).strip() if cat not in (None, "") else UNCATEGORIZED
            out.append(Item(rid, ex.prompt, category, exp))
            unused.update(dict.fromkeys(meta))
    if not out:
        raise DataError("the file holds no prompts", file=str(path), hint="check the file")
    if unused:  # a misspelt `category` would otherwise leave every row uncategorised
        import warnings

        warnings.warn(
            f"{path}: column(s) {', '.join(map(repr, unused))} are not used by the benchmark "
            "(it reads prompt, category, expected and id); rename a misspelt one",
            UserWarning,
            stacklevel=2,
        )
    return out


LOADERS: dict[str, Callable[..., list[Item]]] = {
    "xstest": load_xstest,
    "categorized": load_categorized,
    "falsereject": load_falsereject,
}
