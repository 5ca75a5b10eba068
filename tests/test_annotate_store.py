"""Annotation projects: loading, schemes, labels, versions, undo, gold, durability."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from refusalkit.annotate import Conflict, Project, get_scheme
from refusalkit.core.errors import ConfigError
from refusalkit.readers import read_exchanges
from workbench_util import make_project, rows, write_dataset


def test_data_is_loaded_once_through_the_readers(tmp_path: Path, fixtures: Path) -> None:
    data = fixtures / "readers" / "sharegpt_sample.jsonl.gz"
    project = Project.create(tmp_path / "p", data, scheme="behavior")
    with read_exchanges(str(data)) as stream:
        expected = [ex.id for ex in stream]
    assert sorted(project.item_ids().values()) == sorted(expected)
    first = project.item(0)
    assert first is not None and first.prompt is not None
    # a second create on the same folder is refused: the data is loaded once
    with pytest.raises(ConfigError):
        Project.create(tmp_path / "p", data)
    assert not (tmp_path / "p" / "project.sqlite.loading").exists()


def test_duplicate_ids_are_made_unique(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"id": "x", "prompt": "a", "response": "b"}\n' * 3)
    project = Project.create(tmp_path / "p", path, scheme="behavior")
    assert sorted(project.item_ids().values()) == ["x", "x#2", "x#3"]


def test_scheme_rules() -> None:
    tax = get_scheme("taxonomy")
    assert len(tax.categories) == 16 and len(tax.behaviors) == 3
    assert tax.normalize("full_compliance", None) == ("full_compliance", "not_refusal")
    assert tax.normalize(None, "not_refusal") == ("full_compliance", "not_refusal")
    assert tax.normalize("full_refusal", "privacy") == ("full_refusal", "privacy")
    for bad in (
        ("full_refusal", None),
        ("full_refusal", "not_refusal"),
        ("full_compliance", "privacy"),
        ("nope", None),
        ("full_refusal", "nope"),
    ):
        with pytest.raises(ConfigError):
            tax.normalize(*bad)
    keys = [c.key for c in (*tax.behaviors, *tax.categories)]
    assert len(keys) == len(set(keys)) and not {"s", "u", "/", "?"} & set(keys)
    fr = get_scheme("falsereject")
    assert [c.name for c in fr.behaviors] == [
        "Direct Refusal",
        "Safe Partial Compliance",
        "Full Compliance",
    ]
    assert fr.normalize("partial_refusal", None) == ("partial_refusal", None)
    with pytest.raises(ConfigError):
        fr.normalize("full_refusal", "privacy")
    assert get_scheme("behavior").behavior_values == [
        "full_compliance",
        "partial_refusal",
        "full_refusal",
    ]
    with pytest.raises(ConfigError):
        get_scheme("other")


def test_labels_versions_and_conflicts(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    pos = project.queue("alice")[0]
    lab = project.save_label("alice", pos, "full_refusal", "privacy", "why", expected_version=0)
    assert (lab.version, lab.behavior, lab.category, lab.comment) == (
        1,
        "full_refusal",
        "privacy",
        "why",
    )
    # a tab still showing version 0 cannot overwrite version 1
    with pytest.raises(Conflict):
        project.save_label("alice", pos, "full_compliance", None, expected_version=0)
    assert project.label(pos, "alice").behavior == "full_refusal"
    # another annotator's row is independent
    project.save_label("bob", pos, "full_compliance", None, expected_version=0)
    assert project.label(pos, "alice").category == "privacy"
    assert project.label(pos, "bob").category == "not_refusal"
    with pytest.raises(ConfigError):
        project.save_label("mallory", pos, "full_refusal", "privacy", expected_version=0)
    with pytest.raises(ConfigError):
        project.save_label("alice", 10_000, "full_refusal", "privacy", expected_version=1)


def test_skip_undo_and_progress(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", annotators=("alice",))
    queue = project.queue("alice")
    assert len(queue) == 12 and project.next_pos("alice") == queue[0]
    project.save_label("alice", queue[0], "full_refusal", "no_reason", expected_version=0)
    project.save_label("alice", queue[1], None, None, expected_version=0, skip=True)
    assert project.next_pos("alice") == queue[2]
    assert project.next_pos("alice", include_skipped=True) == queue[1]
    prog = project.progress("alice")
    assert (prog.total, prog.labelled, prog.skipped, prog.remaining) == (12, 1, 1, 10)
    # skipping a labelled item keeps its label
    kept = project.save_label("alice", queue[0], None, None, expected_version=1, skip=True)
    assert kept.behavior == "full_refusal" and not kept.skipped
    # relabel, then undo twice: back to the first label, then to nothing
    project.save_label("alice", queue[0], "partial_refusal", "privacy", expected_version=1)
    assert project.undo("alice") == queue[0]
    assert project.label(queue[0], "alice").behavior == "full_refusal"
    assert project.undo("alice") == queue[1]  # the skip
    assert not project.label(queue[1], "alice").done
    assert project.undo("alice") == queue[0]
    restored = project.label(queue[0], "alice")
    assert restored.behavior is None and restored.version == 4  # versions only grow
    assert project.undo("alice") is None
    assert project.neighbours("alice", queue[1]) == (queue[0], queue[2], 1)


def test_gold_labels(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    assert (
        project.set_gold(0, "full_refusal", "privacy", adjudicator="alice", expected_version=0) == 1
    )
    with pytest.raises(Conflict):
        project.set_gold(0, "full_compliance", None, adjudicator="bob", expected_version=0)
    assert project.set_gold(0, "full_compliance", None, adjudicator="bob", expected_version=1) == 2
    assert project.gold()[0]["category"] == "not_refusal"
    with pytest.raises(ConfigError):
        project.set_gold(1, "full_refusal", None, adjudicator="alice", expected_version=0)
    project.clear_gold(0, expected_version=2)
    assert project.gold() == {}


def test_concurrent_writers_never_overwrite(tmp_path: Path) -> None:
    """Many threads (as several servers would) write the same item: every annotator's row
    survives, and of two writers racing on one row exactly one wins."""
    names = tuple(f"a{i}" for i in range(8))
    project = make_project(tmp_path / "p", annotators=names, overlap=8)
    errors: list[BaseException] = []
    wins: list[str] = []

    def annotate(name: str) -> None:
        try:
            p = Project(tmp_path / "p")  # own object and connections, like another process
            for pos in range(12):
                p.save_label(name, pos, "full_refusal", "privacy", name, expected_version=0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def race(tag: str) -> None:
        try:
            Project(tmp_path / "p").save_label(
                "a0", 0, "partial_refusal", "modalities", tag, expected_version=1
            )
            wins.append(tag)
        except Conflict:
            pass

    threads = [threading.Thread(target=annotate, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for pos in range(12):
        assert {lab.annotator: lab.comment for lab in project.labels_for_item(pos)} == {
            n: n for n in names
        }
    racers = [threading.Thread(target=race, args=(f"t{i}",)) for i in range(6)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert len(wins) == 1 and project.label(0, "a0").comment == wins[0]


def test_labels_survive_a_killed_process(tmp_path: Path) -> None:
    """A process killed with SIGKILL right after writing loses nothing it acknowledged."""
    project = make_project(tmp_path / "p", annotators=("alice",))
    script = textwrap.dedent(
        f"""
        import os, sys
        from refusalkit.annotate import Project
        p = Project({str(tmp_path / "p")!r})
        for pos in p.queue("alice")[:5]:
            p.save_label("alice", pos, "full_refusal", "privacy", expected_version=0)
        print("written", flush=True)
        sys.stdin.read()  # wait to be killed
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reopened = Project(tmp_path / "p")
    assert reopened.progress("alice").labelled == 5
    assert [project.label(p, "alice").behavior for p in project.queue("alice")[:5]] == [
        "full_refusal"
    ] * 5


def test_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an annotation project"):
        Project(tmp_path)
    with pytest.raises(ConfigError, match="invalid annotator"):
        make_project(tmp_path / "p", annotators=("../bob",))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ConfigError, match="no exchanges"):
        Project.create(tmp_path / "q", empty)
    assert len(rows()) == 12 and write_dataset(tmp_path / "d.jsonl").is_file()
