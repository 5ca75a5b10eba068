from __future__ import annotations

from pathlib import Path

from refusalkit.core.io import JsonlWriter, atomic_write, iter_jsonl


def test_jsonl_writer_resume_trims_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JsonlWriter(path) as w:
        w.write({"i": 0})
        w.write({"i": 1})
    with open(path, "ab") as fh:  # a crash mid-write leaves a partial record
        fh.write(b'{"i": 2, "tex')
    with JsonlWriter(path, append=True) as w:
        w.write({"i": 2})
    assert [r["i"] for r in iter_jsonl(path)] == [0, 1, 2]


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.json"
    atomic_write(path, "first")
    atomic_write(path, b"second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]


def test_atomic_write_uses_default_permissions(tmp_path: Path) -> None:
    import os

    path = tmp_path / "r.html"
    atomic_write(path, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
