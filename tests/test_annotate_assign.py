"""Deterministic assignment with overlap: who labels what."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from refusalkit.annotate.assign import plan
from workbench_util import make_project

ITEMS = [(i, f"id-{i}") for i in range(300)]


def _coverage(queues: dict[str, list[int]]) -> Counter[int]:
    return Counter(p for q in queues.values() for p in q)


def test_each_item_gets_overlap_annotators_deterministically() -> None:
    names = ["ann", "bea", "cid", "dan"]
    a = plan("0", ITEMS, names, overlap=2, shared=0, done={})
    b = plan("0", ITEMS, list(reversed(names)), overlap=2, shared=0, done={})
    assert a == b  # independent of the order annotators are listed or joined in
    assert set(_coverage(a).values()) == {2}
    sizes = [len(q) for q in a.values()]
    assert sum(sizes) == 600 and min(sizes) > 100  # balanced in expectation (150 each)
    assert plan("other seed", ITEMS, names, overlap=2, shared=0, done={}) != a
    # overlap larger than the team: everyone labels everything
    assert set(_coverage(plan("0", ITEMS, names[:2], overlap=3, shared=0, done={})).values()) == {2}


def test_shared_items_go_to_everyone() -> None:
    names = ["ann", "bea", "cid"]
    queues = plan("0", ITEMS, names, overlap=1, shared=20, done={})
    cover = _coverage(queues)
    assert [cover[p] for p, _ in ITEMS[:20]] == [3] * 20
    assert {cover[p] for p, _ in ITEMS[20:]} == {1}
    for q in queues.values():
        assert q[:20] == [p for p, _ in ITEMS[:20]]  # shared items come first, in order


def test_a_new_annotator_takes_over_only_unlabelled_items() -> None:
    names = ["ann", "bea"]
    before = plan("0", ITEMS, names, overlap=1, shared=0, done={})
    done = {p: {"ann"} for p in before["ann"][:50]}  # ann labelled her first 50
    after = plan("0", ITEMS, [*names, "cid"], overlap=1, shared=0, done=done)
    assert set(before["ann"][:50]) <= set(after["ann"])  # labelled work stays with ann
    assert set(_coverage(after).values()) == {1}  # nothing labelled twice or dropped
    moved = set(after["cid"])
    assert moved and not moved & set(before["ann"][:50])
    # only items that cid now wins moved; everything else stayed where it was
    for name in names:
        assert set(after[name]) <= set(before[name])


def test_project_queues_follow_the_plan(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", annotators=("alice", "bob", "carol"), overlap=2)
    queues = {a: project.queue(a) for a in project.annotators()}
    assert set(_coverage(queues).values()) == {2}
    first = project.queue("alice")[0]
    project.save_label("alice", first, "full_refusal", "privacy", expected_version=0)
    project.add_annotator("dave")
    assert first in project.queue("alice")
    assert set(_coverage({a: project.queue(a) for a in project.annotators()}).values()) == {2}
    project.set_overlap(4)
    assert all(len(project.queue(a)) == 12 for a in project.annotators())
    assert project.add_annotator("dave") is False  # idempotent
