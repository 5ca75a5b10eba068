"""The prompt-set registry: bundled over-refusal sets, their loaders, and user files.

Each `PromptSet` names a loader, a license and an attribution, and says which role its
prompts play: *benign* prompts should be answered (refusing them is over-refusal),
*harmful* prompts should be declined (answering them is under-refusal). Every loader
returns `Item`s with a stable id, a category and the expected behaviour (`comply` |
`refuse`), which become the `dataset` / `category` / `expected` metadata the shared
eval core (`refusalkit.evals`) reads.

A dataset spec is a set name (`xstest`), `NAME=PATH` (PATH read with set NAME's loader,
e.g. `falsereject=test.jsonl`, or a user file reported as NAME), a path to a user file,
or a group: `all`, `benign`, `harmful` (the bundled sets). User files are any format
the readers support with a `prompt` column and optional `category`, `expected` and `id`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.core.paths import resource_path

BENIGN, HARMFUL, MIXED = "benign", "harmful", "mixed"
EXPECTED_BY_ROLE = {BENIGN: "comply", HARMFUL: "refuse"}
GROUPS = ("all", BENIGN, HARMFUL)
UNCATEGORIZED = "uncategorized"


@dataclass(frozen=True, slots=True)
class Item:
    """One prompt of a set: `id` is stable within the set (upstream id or row index)."""

    id: str
    prompt: str
    category: str
    expected: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PromptSet:
    name: str
    title: str
    role: str  # benign | harmful | mixed (user files)
    loader: str  # key of LOADERS
    file: str | None  # under resources/bench; None = not bundled
    license: str
    source: str
    citation: str
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    size: int | None = None  # rows of the bundled file (or upstream, when not bundled)
    how_to_get: str = ""

    @property
    def bundled(self) -> bool:
        return self.file is not None

    def path(self) -> Path | None:
        return resource_path("bench", self.file) if self.file else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "role": self.role,
            "bundled": self.bundled, "size": self.size, "license": self.license,
            "source": self.source, "citation": self.citation, "description": self.description,
        }  # fmt: skip


_XS = "https://github.com/paul-rottger/exaggerated-safety"
_ORB = "https://huggingface.co/datasets/bench-llm/or-bench"
_COCO = "https://github.com/allenai/noncompliance"
_FR = "https://huggingface.co/datasets/AmazonScience/FalseReject"

REGISTRY: dict[str, PromptSet] = {
    s.name: s
    for s in (
        PromptSet(
            "xstest",
            "XSTest (safe)",
            BENIGN,
            "xstest",
            "xstest/xstest_prompts.csv",
            "CC-BY-4.0",
            _XS,
            "Röttger et al., NAACL 2024",
            "Safe prompts that resemble unsafe ones (homonyms, figurative language, ...)",
            {"label": "safe"},
            250,
        ),
        PromptSet(
            "xstest-unsafe",
            "XSTest (unsafe contrast)",
            HARMFUL,
            "xstest",
            "xstest/xstest_prompts.csv",
            "CC-BY-4.0",
            _XS,
            "Röttger et al., NAACL 2024",
            "Unsafe contrast prompts of XSTest, to be refused",
            {"label": "unsafe"},
            200,
        ),
        PromptSet(
            "orbench-hard",
            "OR-Bench-Hard-1K",
            BENIGN,
            "categorized",
            "orbench/or-bench-hard-1k.csv",
            "CC-BY-4.0",
            _ORB,
            "Cui et al., ICML 2025",
            "Benign prompts that look harmful and are often refused",
            {"expected": "comply"},
            1319,
        ),
        PromptSet(
            "orbench-toxic",
            "OR-Bench-Toxic",
            HARMFUL,
            "categorized",
            "orbench/or-bench-toxic.csv",
            "CC-BY-4.0",
            _ORB,
            "Cui et al., ICML 2025",
            "Toxic prompts: the harmful control of OR-Bench",
            {"expected": "refuse"},
            655,
        ),
        PromptSet(
            "oktest",
            "OKTest",
            BENIGN,
            "categorized",
            None,
            "none stated upstream (not redistributed)",
            "https://github.com/InvokerStark/OverKill",
            "Shi et al., ACL 2024",
            "Benign questions containing harmful-looking words",
            {"expected": "comply", "default_category": "oktest"},
            300,
            "download data/OKTest.csv from github.com/InvokerStark/OverKill, then "
            "pass --dataset oktest=PATH/OKTest.csv",
        ),
        PromptSet(
            "coconot-contrast",
            "CoCoNot contrast",
            BENIGN,
            "categorized",
            "coconot/coconot_contrast_eval.jsonl",
            "MIT",
            _COCO,
            "Brahman et al., 2024",
            "Benign prompts that look like requests to refuse",
            {"expected": "comply", "id_field": "id", "extra_fields": ("subcategory",)},
            379,
        ),
        PromptSet(
            "coconot",
            "CoCoNot original",
            HARMFUL,
            "categorized",
            "coconot/coconot_eval.jsonl",
            "MIT",
            _COCO,
            "Brahman et al., 2024",
            "Requests a model should not simply comply with (unsafe, incomplete, "
            "unsupported, indeterminate, humanising)",
            {"expected": "refuse", "id_field": "id", "extra_fields": ("subcategory",)},
            1001,
        ),
        PromptSet(
            "falsereject-sample",
            "FalseReject (20-row train sample)",
            BENIGN,
            "falsereject",
            "falsereject/falsereject_sample.jsonl",
            "CC BY-NC 4.0 (non-commercial)",
            _FR,
            "Zhang et al., 2025",
            "Seemingly harmful but safe prompts over 46 SORRY-Bench categories (format demo)",
            {},
            20,
        ),
        PromptSet(
            "falsereject",
            "FalseReject",
            BENIGN,
            "falsereject",
            None,
            "CC BY-NC 4.0 (non-commercial; not redistributed)",
            _FR,
            "Zhang et al., 2025",
            "Seemingly harmful but safe prompts over 46 SORRY-Bench categories",
            {},
            1187,
            "download the train or test split of AmazonScience/FalseReject (accepting "
            "its license), then pass --dataset falsereject=PATH",
        ),
    )
}


# ---------------------------------------------------------------------------- specs


@dataclass(slots=True)
class DatasetSpec:
    """A dataset to run: its report name, the set it uses (None = user file), its file."""

    name: str
    path: Path
    prompt_set: PromptSet | None = None

    @property
    def role(self) -> str:
        return self.prompt_set.role if self.prompt_set else MIXED

    def load(self, reader_options: dict[str, Any] | None = None) -> list[Item]:
        if not self.path.exists():
            raise ConfigError(f"dataset {self.name!r}: no such file {self.path}",
                              hint="check the path after NAME=")  # fmt: skip
        ps = self.prompt_set
        if ps is None:
            from refusalkit.bench.loaders import load_user

            return load_user(self.path, reader_options=reader_options)
        from refusalkit.bench.loaders import LOADERS

        return LOADERS[ps.loader](self.path, **ps.options)

    def describe(self) -> dict[str, Any]:
        ps = self.prompt_set
        base = ps.to_dict() if ps else {"title": self.path.name, "role": MIXED,
                                          "license": "user file", "source": str(self.path)}  # fmt: skip
        return {**base, "name": self.name, "path": str(self.path),
                "set": ps.name if ps else None}  # fmt: skip


def _unknown(spec: str) -> ConfigError:
    close = difflib.get_close_matches(spec, [*REGISTRY, *GROUPS], n=3, cutoff=0.5)
    maybe = f"; did you mean {', '.join(close)}?" if close else ""
    return ConfigError(
        f"unknown dataset {spec!r} (not a prompt-set name and no such file){maybe}",
        hint="`refusalkit bench list` shows the sets; or pass a CSV/JSONL path, or NAME=PATH",
    )


def resolve(spec: str) -> list[DatasetSpec]:
    """One `--dataset` value -> the datasets it names (a group names several)."""
    spec = spec.strip()
    if spec in GROUPS:
        return [
            DatasetSpec(s.name, s.path(), s)  # type: ignore[arg-type]
            for s in REGISTRY.values()
            if s.bundled and (spec == "all" or s.role == spec)
        ]
    name, sep, raw = spec.partition("=")
    if sep and name and not Path(spec).exists():
        path = Path(raw).expanduser()
        return [DatasetSpec(name, path, REGISTRY.get(name))]
    if spec in REGISTRY:
        ps = REGISTRY[spec]
        if not ps.bundled:
            raise ConfigError(f"the {spec!r} prompts are not bundled with refusalkit ({ps.license})",
                              hint=ps.how_to_get)  # fmt: skip
        return [DatasetSpec(spec, ps.path(), ps)]  # type: ignore[arg-type]
    path = Path(spec).expanduser()
    if path.exists():
        from refusalkit.readers.records import strip_compression

        return [DatasetSpec(Path(strip_compression(path.name)).stem, path, None)]
    raise _unknown(spec)


def resolve_all(specs: Iterable[str]) -> list[DatasetSpec]:
    """Every `--dataset`, expanded; names must be unique within a run."""
    out: list[DatasetSpec] = []
    for spec in specs:
        for ds in resolve(spec):
            if any(o.name == ds.name for o in out):
                if any(o.name == ds.name and o.path == ds.path for o in out):
                    continue  # `all` plus `xstest`: the same set once
                raise ConfigError(f"two datasets are named {ds.name!r}",
                                  hint="name them apart with NAME=PATH")  # fmt: skip
            out.append(ds)
    if not out:
        raise ConfigError("no dataset given", hint="--dataset xstest (see `refusalkit bench list`)")
    return out
