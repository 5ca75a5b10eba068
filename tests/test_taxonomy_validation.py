"""Invalid taxonomy files fail with a ConfigError naming file, line, category, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from refusalkit.core.errors import ConfigError
from refusalkit.taxonomy import load_any, load_falsereject_taxonomy, load_taxonomy

NR = "  - id: not_refusal\n    name: Not a refusal\n    group: other\n    definition: Answers.\n"


def _cat(cid: str = "a", group: str = "cannot", extra: str = "") -> str:
    return f"  - id: {cid}\n    name: A\n    group: {group}\n    definition: d\n{extra}"


CASES = {
    "missing_field": (
        "categories:\n  - id: a\n    group: cannot\n    definition: d\n" + NR,
        ["line 2", "categories[0] (id 'a')", "missing required field 'name'"],
    ),
    "empty_definition": (
        "categories:\n  - id: a\n    name: A\n    group: cannot\n    definition: ''\n" + NR,
        ["line 5", "field 'definition'", "is empty"],
    ),
    "duplicate_id": (
        "categories:\n" + _cat() + _cat() + NR,
        ["line 6", "categories[1] (id 'a'), field 'id'", "duplicate id 'a'", "categories[0]"],
    ),
    "unknown_group": (
        "categories:\n" + _cat() + _cat("b", "shouldnt") + NR,
        ["line 8", "categories[1] (id 'b'), field 'group'", "unknown group 'shouldnt'"],
    ),
    "bad_id": (
        "categories:\n" + _cat("Bad-Id") + NR,
        ["line 2", "field 'id'", "bad id 'Bad-Id'"],
    ),
    "numeric_id": (
        "categories:\n" + _cat("9lives") + NR,
        ["field 'id'", "bad id '9lives'"],
    ),
    "no_not_refusal": (
        "categories:\n" + _cat(),
        ["line 2", "no 'not_refusal' category"],
    ),
    "not_refusal_wrong_group": (
        "categories:\n" + _cat() + "  - {id: not_refusal, name: N, group: cannot, definition: d}\n",
        ["categories[1] (id 'not_refusal'), field 'group'", "must be in group 'other'"],
    ),
    "examples_not_list": (
        "categories:\n" + _cat(extra="    examples: just one\n") + NR,
        ["line 6", "categories[0] (id 'a'), field 'examples'", "must be a list, got str"],
    ),
    "example_missing_response": (
        "categories:\n" + _cat(extra="    examples:\n      - instruction: hi\n") + NR,
        ["line 7", "categories[0] (id 'a'), examples[0]", "missing required field 'response'"],
    ),
    "example_unknown_key": (
        "categories:\n"
        + _cat(extra="    examples:\n      - {instruction: hi, response: no, user: x}\n")
        + NR,
        ["examples[0], field 'user'", "unknown field 'user'"],
    ),
    "cues_not_list": (
        "categories:\n" + _cat(extra="    cues: sorry\n") + NR,
        ["field 'cues'", "must be a list"],
    ),
    "typo_field": (
        "categories:\n  - id: a\n    name: A\n    group: cannot\n    defintion: d\n" + NR,
        ["line 5", "unknown field 'defintion'", "did you mean 'definition'"],
    ),
    "duplicate_key": (
        "categories:\n  - id: a\n    name: A\n    name: B\n    group: cannot\n    definition: d\n"
        + NR,
        ["line 4", "duplicate key 'name' (first on line 3)"],
    ),
    "categories_not_list": ("categories: {a: 1}\n", ["line 1", "must be a non-empty list"]),
    "no_categories": ("name: x\n", ["missing 'categories'"]),
    "top_level_list": ("- id: a\n", ["the top level must be a mapping"]),
    "empty_file": ("", ["the file is empty"]),
    "yaml_syntax": (
        'categories:\n  - id: a\n    name: "unterminated\n    group: cannot\n',
        ["line 5", "invalid YAML", "while scanning a quoted scalar at line 3"],
    ),
    "yaml_tab": ("categories:\n\t- id: a\n", ["line 2", "invalid YAML"]),
    "wrong_kind": (
        "kind: falsereject\ncategories: []\n",
        ["field 'kind'", "'falsereject' taxonomy file"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_refusal_taxonomy(case: str, tmp_path: Path) -> None:
    text, expected = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert info.value.hint, f"no hint for {case}: {message}"


def test_json_syntax_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"categories": [\n  {"id": "a",}\n]}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.json line 2 column \d+: invalid JSON"):
        load_taxonomy(path)


def test_json_semantic_error_names_category(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"categories": [{"id": "a", "name": "A", "group": 3, "definition": "d"}]}')
    with pytest.raises(ConfigError, match=r"categories\[0\] \(id 'a'\), field 'group'"):
        load_taxonomy(path)


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        load_taxonomy(tmp_path / "missing.yaml")
    assert "falsereject" in (info.value.hint or "")
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="line 1: not valid UTF-8"):
        load_taxonomy(path)


def test_dict_input_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"<dict>: categories\[0\] \(id 'x'\)"):
        load_taxonomy(
            {"categories": [{"id": "x", "name": "X", "group": "nope", "definition": "d"}]}
        )


FR_OK = (
    "domains:\n  - {id: d1, name: D1}\n"
    "categories:\n  - {id: 1, name: Alpha, domain: d1}\n  - {id: 2, name: Beta, domain: d1}\n"
)

FR_CASES = {
    "string_id": (FR_OK.replace("id: 2,", "id: '2',"), ["categories[1]", "positive integer"]),
    "duplicate_id": (FR_OK.replace("id: 2,", "id: 1,"), ["line 5", "duplicate id 1"]),
    "unknown_domain": (
        FR_OK.replace("Beta, domain: d1", "Beta, domain: d9"),
        ["unknown domain 'd9'"],
    ),
    "name_clash": (
        FR_OK.replace("name: Beta", "name: 'ALPHA!'"),
        ["name 'ALPHA!' clashes with categories[0]"],
    ),
    "no_domains": (
        FR_OK.split("categories:")[0].replace("domains", "kind: falsereject\nx"),
        ["unknown field 'x'"],
    ),
    "missing_domains": (
        "kind: falsereject\ncategories:\n  - {id: 1, name: A, domain: d}\n",
        ["missing 'domains'"],
    ),
}


@pytest.mark.parametrize("case", list(FR_CASES))
def test_invalid_falsereject_taxonomy(case: str, tmp_path: Path) -> None:
    text, expected = FR_CASES[case]
    path = tmp_path / "fr.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_falsereject_taxonomy(path)
    for part in expected:
        assert part in str(info.value), str(info.value)


def test_falsereject_user_file_and_kind_detection(tmp_path: Path) -> None:
    path = tmp_path / "fr.yaml"
    path.write_text(FR_OK, encoding="utf-8")
    fr = load_falsereject_taxonomy(path)
    assert fr.names == ["Alpha", "Beta"] and fr.by_name("beta").id == 2
    assert load_any(path) == fr
    with pytest.raises(ConfigError, match="looks like a 'falsereject' taxonomy") as info:
        load_taxonomy(path)
    assert "load_falsereject_taxonomy" in (info.value.hint or "")
