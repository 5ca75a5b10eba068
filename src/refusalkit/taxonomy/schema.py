"""The in-memory form of the two taxonomies.

Plain dataclasses, built only by the validating loader (`refusalkit.taxonomy.validation`),
so code holding a `Taxonomy` can rely on ids being unique and well-formed, groups being
known and `not_refusal` being present. `to_dict()` returns exactly the file schema, so a
taxonomy round-trips through YAML/JSON export and `load_taxonomy`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from refusalkit.core.models import Group

#: Category ids of the refusal taxonomy: lower snake case, used as labels everywhere.
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
#: The groups a refusal category can belong to, in display order.
GROUPS: tuple[str, ...] = ("should_not", "cannot", "other")
#: The category every refusal taxonomy must have: "the response is not a refusal".
NOT_REFUSAL = "not_refusal"

_GROUP_TO_VERDICT = {"should_not": Group.SHOULD_NOT, "cannot": Group.CANNOT, "other": Group.NONE}


@dataclass(frozen=True, slots=True)
class Example:
    """One illustrative exchange. For `not_refusal`, `response` is a compliant answer."""

    instruction: str
    response: str
    system: str | None = None

    def to_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.system is not None:
            out["system"] = self.system
        out["instruction"] = self.instruction
        out["response"] = self.response
        return out


@dataclass(frozen=True, slots=True)
class Category:
    """One refusal category. `group` is the file's value: should_not | cannot | other."""

    id: str
    name: str
    group: str
    definition: str
    distinguish: str = ""
    examples: list[Example] = field(default_factory=list)
    cues: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict_group(self) -> Group:
        """The `Group` a Verdict in this category carries (`other` becomes `Group.NONE`)."""
        return _GROUP_TO_VERDICT[self.group]

    @property
    def is_refusal(self) -> bool:
        return self.id != NOT_REFUSAL

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "group": self.group,
            "definition": self.definition,
            "distinguish": self.distinguish,
            "cues": list(self.cues),
            "examples": [e.to_dict() for e in self.examples],
        }
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """An ordered set of refusal categories (the bundled one has 16).

    Category order is meaningful: it is the column order of `category_scores`
    matrices and of classifier heads, so `ids` is stable for a given file.
    """

    name: str
    version: str
    categories: list[Category]
    description: str = ""
    reference: str = ""
    groups: dict[str, str] = field(default_factory=dict)
    source: str = "<dict>"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c.id: i for i, c in enumerate(self.categories)})

    # -- lookup -------------------------------------------------------------------------

    @property
    def ids(self) -> list[str]:
        """Category ids in file order."""
        return [c.id for c in self.categories]

    @property
    def refusal_ids(self) -> list[str]:
        """Every id except `not_refusal`, in file order."""
        return [c.id for c in self.categories if c.id != NOT_REFUSAL]

    def ids_in_group(self, group: str | Group) -> list[str]:
        """Ids whose group is `group` (`Group.NONE`/"none" select the `other` group)."""
        wanted = "other" if str(group) in ("none", "other") else str(group)
        return [c.id for c in self.categories if c.group == wanted]

    def __getitem__(self, category_id: str) -> Category:
        try:
            return self.categories[self._index[category_id]]
        except KeyError:
            raise KeyError(
                f"unknown category {category_id!r} in taxonomy {self.name!r}; "
                f"known: {', '.join(self.ids)}"
            ) from None

    def get(self, category_id: str, default: Category | None = None) -> Category | None:
        i = self._index.get(category_id)
        return default if i is None else self.categories[i]

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._index

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def index(self, category_id: str) -> int:
        """Position of a category (its column in score matrices)."""
        try:
            return self._index[category_id]
        except KeyError:
            raise KeyError(f"unknown category {category_id!r}") from None

    def group_of(self, category_id: str | None) -> Group:
        """The Verdict group of a category; `None` (no category) gives `Group.NONE`."""
        if category_id is None:
            return Group.NONE
        return self[category_id].verdict_group

    # -- export -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The file schema (kind, name, version, ..., categories); loadable again."""
        out: dict[str, Any] = {"kind": "refusal", "name": self.name, "version": self.version}
        if self.description:
            out["description"] = self.description
        if self.reference:
            out["reference"] = self.reference
        if self.groups:
            out["groups"] = dict(self.groups)
        out["categories"] = [c.to_dict() for c in self.categories]
        return out


# ---------------------------------------------------------------------------- FalseReject


def name_key(name: str) -> str:
    """Normalise a category name for tolerant lookup.

    Case, punctuation, spacing, parentheses and "&" vs "and" are ignored, so
    "Fraud, Scams and Deception", "fraud scams & deception" and "Self harm" all match
    their canonical names.
    """
    words = re.findall(r"[a-z0-9]+", name.casefold().replace("&", " and "))
    return "".join(w for w in words if w != "and")


@dataclass(frozen=True, slots=True)
class Domain:
    id: str
    name: str
    description: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"id": self.id, "name": self.name}
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True, slots=True)
class FalseRejectCategory:
    """A SORRY-Bench/FalseReject safety topic with its integer id (1-46)."""

    id: int
    name: str
    domain: str
    description: str = ""
    aliases: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "domain": self.domain}
        if self.description:
            out["description"] = self.description
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out


@dataclass(frozen=True, slots=True)
class FalseRejectTaxonomy:
    """FalseReject's category list: ids and names as in its `category_id`/`category` fields."""

    name: str
    version: str
    categories: list[FalseRejectCategory]
    domains: list[Domain]
    description: str = ""
    reference: str = ""
    source: str = "<dict>"
    _by_id: dict[int, FalseRejectCategory] = field(init=False, repr=False, compare=False)
    _by_key: dict[str, FalseRejectCategory] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.id: c for c in self.categories})
        by_key: dict[str, FalseRejectCategory] = {}
        for c in self.categories:
            for n in (c.name, *c.aliases):
                by_key.setdefault(name_key(n), c)
        object.__setattr__(self, "_by_key", by_key)

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.categories]

    @property
    def names(self) -> list[str]:
        """Canonical names in file (id) order."""
        return [c.name for c in self.categories]

    def by_id(self, category_id: int) -> FalseRejectCategory:
        """The category with this integer id (numeric strings such as "10" are accepted)."""
        try:
            key = int(category_id)
        except (TypeError, ValueError):
            key = None
        if key is None or key not in self._by_id:
            raise KeyError(
                f"unknown FalseReject category id {category_id!r}; "
                f"ids run {min(self._by_id)}-{max(self._by_id)}"
            )
        return self._by_id[key]

    def by_name(self, name: str) -> FalseRejectCategory:
        """The category with this name or alias, ignoring case, punctuation and '&'/'and'."""
        found = self._by_key.get(name_key(str(name)))
        if found is None:
            import difflib

            close = difflib.get_close_matches(str(name), self.names, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise KeyError(f"unknown FalseReject category {name!r}{hint}")
        return found

    def resolve(self, value: int | str) -> FalseRejectCategory:
        """Look up by id (int or numeric string) or by name."""
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return self.by_id(int(value))
        return self.by_name(value)

    def in_domain(self, domain: str) -> list[FalseRejectCategory]:
        return [c for c in self.categories if c.domain == domain]

    def domain_name(self, domain: str) -> str:
        for d in self.domains:
            if d.id == domain:
                return d.name
        raise KeyError(f"unknown domain {domain!r}")

    def __iter__(self) -> Iterator[FalseRejectCategory]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def __contains__(self, value: object) -> bool:
        try:
            self.resolve(value)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "falsereject", "name": self.name, "version": self.version}
        if self.description:
            out["description"] = self.description
        if self.reference:
            out["reference"] = self.reference
        out["domains"] = [d.to_dict() for d in self.domains]
        out["categories"] = [c.to_dict() for c in self.categories]
        return out
