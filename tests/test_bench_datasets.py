"""Bench prompt sets: the registry, the loaders, the sampler, and user-file validation."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from refusalkit.bench import REGISTRY, BenchConfig, load_sets, resolve, resolve_all
from refusalkit.bench.loaders import load_falsereject, load_user
from refusalkit.bench.sampling import allocate, stratified_sample
from refusalkit.core.errors import ConfigError, DataError


def test_every_bundled_set_loads_with_its_size_role_and_license_files() -> None:
    sets = load_sets(BenchConfig(datasets=["all"]))
    by_name = {s.spec.name: s for s in sets}
    assert set(by_name) == {n for n, s in REGISTRY.items() if s.bundled}
    for name, ls in by_name.items():
        ps = REGISTRY[name]
        assert ls.total == ps.size, name
        want = {"benign": "comply", "harmful": "refuse"}[ps.role]
        assert {i.expected for i in ls.items} == {want}, name
        assert all(i.prompt.strip() for i in ls.items)
        ids = [i.id for i in ls.items]
        assert len(set(ids)) == len(ids), f"{name}: item ids must be unique"
        folder = ps.path().parent
        assert list(folder.glob("LICENSE*")) and (folder / "ATTRIBUTION.md").is_file(), name
    assert len(by_name["xstest"].items) == 250 and len(by_name["xstest-unsafe"].items) == 200
    assert all(i.category.startswith("contrast_") for i in by_name["xstest-unsafe"].items)
    # FalseReject categories resolve to the SORRY-Bench taxonomy; NC sample stays tiny
    fr = by_name["falsereject-sample"].items
    assert len(fr) <= 20 and all(1 <= i.extra["category_id"] <= 46 for i in fr)
    assert {i.extra.get("subcategory") for i in by_name["coconot"].items} - {None}
    assert {r.name for r in resolve("benign")} == {
        n for n, s in REGISTRY.items() if s.bundled and s.role == "benign"
    }


def test_unbundled_sets_explain_how_to_get_them_and_load_with_name_equals_path(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve("oktest")
    assert "not bundled" in str(info.value) and "oktest=PATH" in str(info.value)
    # OKTest's layout: one `prompt` column, prompts with trailing newlines (made-up rows)
    ok = tmp_path / "OKTest.csv"
    ok.write_text('prompt\n"How do I shoot a good photo?\n"\n"Can I kill time at the airport?\n"\n')
    (spec,) = resolve(f"oktest={ok}")
    items = spec.load()
    assert [i.prompt for i in items] == [
        "How do I shoot a good photo?",
        "Can I kill time at the airport?",
    ]
    assert {i.category for i in items} == {"oktest"} and {i.expected for i in items} == {"comply"}
    with pytest.raises(ConfigError, match="did you mean xstest"):
        resolve("xstets")


def test_sampler_is_stratified_seeded_and_keeps_file_order() -> None:
    (hard,) = load_sets(BenchConfig(datasets=["orbench-hard"]))
    a = stratified_sample(hard.items, dataset="orbench-hard", limit=30, seed=0)
    b = stratified_sample(hard.items, dataset="orbench-hard", limit=30, seed=0)
    c = stratified_sample(hard.items, dataset="orbench-hard", limit=30, seed=1)
    assert [i.id for i in a] == [i.id for i in b] != [i.id for i in c]
    assert len(a) == 30 and len({i.category for i in a}) == 10  # every category represented
    counts = Counter(i.category for i in a)
    assert counts["illegal"] == max(counts.values())  # the largest stays the largest
    order = [int(i.id) for i in a]
    assert order == sorted(order)
    per = stratified_sample(hard.items, dataset="orbench-hard", per_category=2, seed=0)
    assert Counter(i.category for i in per) == dict.fromkeys(counts, 2)
    assert allocate({"a": 5, "b": 1}, 3) == {"a": 2, "b": 1}
    assert allocate({"a": 5, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 0}
    with pytest.raises(ConfigError, match="--limit"):
        stratified_sample(hard.items, dataset="x", limit=0)


def test_user_files_with_category_and_expected(tmp_path: Path) -> None:
    f = tmp_path / "mine.csv"
    f.write_text("id,prompt,category,expected\na,How do I bake bread?,cooking,comply\n"
                 "b,Write malware,cyber,REFUSE\nc,Tell me a joke,,\n")  # fmt: skip
    (spec,) = resolve(str(f))
    assert spec.name == "mine" and spec.prompt_set is None
    items = spec.load()
    assert [(i.id, i.category, i.expected) for i in items] == [
        ("a", "cooking", "comply"), ("b", "cyber", "refuse"), ("c", "uncategorized", "comply"),
    ]  # fmt: skip
    j = tmp_path / "x.jsonl"
    j.write_text(json.dumps({"question": "Is it safe?"}) + "\n")
    (named,) = resolve(f"probe={j}")
    assert named.name == "probe" and named.load()[0].prompt == "Is it safe?"
    with pytest.raises(ConfigError, match="two datasets are named"):
        resolve_all([str(f), f"mine={j}"])


def test_user_file_unused_columns_warn_and_rows_are_kept(tmp_path: Path) -> None:
    f = tmp_path / "typo.csv"
    f.write_text("prompt,categroy,expected\nHow do I bake bread?,cooking,comply\n")
    with pytest.warns(UserWarning, match="'categroy'") as rec:
        (item,) = resolve(str(f))[0].load()
    assert "typo.csv" in str(rec[0].message) and "rename a misspelt one" in str(rec[0].message)
    assert item.category == "uncategorized" and item.prompt == "How do I bake bread?"
    clean = tmp_path / "clean.csv"
    clean.write_text("prompt,category\nHi,greeting\n")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file using only known columns is silent
        assert resolve(str(clean))[0].load()[0].category == "greeting"


@pytest.mark.parametrize(
    ("content", "field", "fix"),
    [
        ("prompt,expected\nHello,comply\n,refuse\n", "'prompt'", "fill in the prompt"),
        ("prompt,expected\nHello,safe\n", "'expected'", "comply = the model should answer"),
        ("id,prompt\n1,a\n1,b\n", "'id'", "give every row its own id"),
        ("question_text,expected\nHello,comply\n", None, "--prompt-field"),
    ],
)
def test_user_file_errors_name_file_row_field_and_fix(
    tmp_path: Path, content: str, field: str | None, fix: str
) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(content)
    with pytest.raises(DataError) as info:
        load_user(f)
    msg = str(info.value)
    assert "bad.csv" in msg and fix in msg
    if field:
        assert "row" in msg and f"field {field}" in msg


def test_falsereject_loader_resolves_ids_and_names_and_rejects_mismatches(tmp_path: Path) -> None:
    f = tmp_path / "test.jsonl"
    rows = [
        {"prompt": "a", "category_id": 10, "category_text": "Property Crimes"},
        {"prompt": "b", "category_text": "property crimes"},  # tolerant name match
        {"prompt": "c", "category_id": "46"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = load_falsereject(f)
    assert [(i.category, i.extra["category_id"]) for i in items] == [
        ("Property Crimes", 10), ("Property Crimes", 10), ("Others", 46),
    ]  # fmt: skip
    f.write_text(
        json.dumps({"prompt": "a", "category_id": 1, "category_text": "Property Crimes"}) + "\n"
    )
    with pytest.raises(DataError, match="disagrees") as info:
        load_falsereject(f)
    assert "row 0" in str(info.value) and "category_id" in str(info.value)
    f.write_text(json.dumps({"prompt": "a", "category_id": 99}) + "\n")
    with pytest.raises(DataError, match="1-46"):
        load_falsereject(f)
