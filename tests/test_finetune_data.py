"""SFT data for `refusalkit finetune` (torch-free): FalseReject exports in the instruct and
CoT formats, chat files with several assistant turns, the seeded general mix, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refusalkit.core.errors import ConfigError, DataError
from refusalkit.finetune.data import build_dataset, read_examples, sample_mix


def test_falsereject_instruct_and_cot(fixtures: Path) -> None:
    path = fixtures / "finetune" / "falsereject_sft_sample.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    instruct = list(read_examples([path], fmt="instruct"))
    cot = list(read_examples([path], fmt="cot"))
    assert len(instruct) == len(cot) == len(rows) == 12
    first = instruct[0].messages
    assert first == [{"role": "user", "content": rows[0]["prompt"]},
                     {"role": "assistant", "content": rows[0]["instruct_response"]}]  # fmt: skip
    answer = cot[0].messages[-1]["content"]
    assert answer.startswith("<think>\n" + rows[0]["cot_response"]["reasoning_content"])
    assert answer.endswith("</think>\n\n" + rows[0]["cot_response"]["solution"])
    with pytest.raises(ConfigError, match="--format"):
        list(read_examples([path], fmt="yaml"))


def test_missing_answer_names_row_field_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "fr.jsonl"
    path.write_text(json.dumps({"prompt": "p", "cot_response": {"reasoning_content": "r",
                                                              "solution": "s"}}) + "\n")  # fmt: skip
    with pytest.raises(DataError, match="instruct_response") as err:
        list(read_examples([path], fmt="instruct"))
    assert "--format cot" in str(err.value) and "line 1" in str(err.value)
    path.write_text(json.dumps({"prompt": "p"}) + "\n")
    with pytest.raises(DataError, match="no assistant answer"):
        list(read_examples([path]))


def test_chat_files_keep_every_turn(tmp_path: Path) -> None:
    path = tmp_path / "sft.jsonl"
    conv = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Goodbye."}]  # fmt: skip
    path.write_text(
        json.dumps({"messages": conv}) + "\n" + json.dumps({"messages": conv[1:3]}) + "\n"
    )
    ex = list(read_examples([path]))
    assert [e.messages for e in ex] == [conv, conv[1:3]]  # one example per conversation


def test_mix_is_a_seeded_sample(fixtures: Path) -> None:
    alpaca = fixtures / "readers" / "alpaca_sample.json"
    a, seen = sample_mix([alpaca], 3, seed=1)
    b, _ = sample_mix([alpaca], 3, seed=1)
    assert seen == 8 and len(a) == 3 and [x.origin for x in a] == [x.origin for x in b]
    assert all(x.source == "mix" and x.messages[-1]["role"] == "assistant" for x in a)
    data = fixtures / "finetune" / "falsereject_sft_sample.jsonl"
    examples, stats = build_dataset([data], mix=[alpaca, fixtures / "readers" / "dolly_sample.csv"],
                                    mix_ratio=0.5, seed=0)  # fmt: skip
    assert stats.data_examples == 12 and stats.mix_examples == 6 and stats.mix_available == 12
    assert len(examples) == 18 and {e.source for e in examples} == {"data", "mix"}
    _few, stats = build_dataset([data], mix=[alpaca], mix_ratio=5, limit=4)
    assert stats.data_examples == 4 and stats.mix_examples == 8  # all there is


def test_without_the_train_extra_the_cli_names_it(tmp_path: Path, fixtures: Path) -> None:
    """In a Python where peft cannot be imported (as if the `[train]` extra were not
    installed) `refusalkit finetune` exits 2 with the pip hint."""
    import os
    import subprocess
    import sys

    # sys.modules[name] = None is Python's own marker for "cannot be imported": import
    # raises ImportError and importlib.util.find_spec returns None, as when it is missing
    code = "import sys; sys.modules['peft'] = None\nfrom refusalkit.cli.app import main; main()\n"
    data = fixtures / "finetune" / "falsereject_sft_sample.jsonl"
    res = subprocess.run(
        [sys.executable, "-c", code, "finetune", "--data", str(data), "-o", str(tmp_path / "o")],
        capture_output=True, text=True, env={**os.environ, "REFUSALKIT_HOME": str(tmp_path)},
        timeout=120,
    )  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    assert "peft" in res.stderr and "refusalkit[train]" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "o").exists()


def test_falsereject_export_folder_and_provenance(fixtures: Path, tmp_path: Path) -> None:
    """The export's `falsereject.jsonl` rows carry a nested `provenance` and an integer
    `category`; an export folder (which also holds sft_*.jsonl copies of the same answers)
    stands for that file, so no example is read twice."""
    rows = [json.loads(line) for line in
            (fixtures / "finetune" / "falsereject_sft_sample.jsonl").read_text().splitlines()[:3]]  # fmt: skip
    export = tmp_path / "export"
    export.mkdir()
    with (export / "falsereject.jsonl").open("w") as f:
        for r in rows:
            prov = {"seed_ids": ["s1"], "pool": {"verdicts": [{"response": "I can't."}]}}
            f.write(json.dumps({**r, "provenance": prov}) + "\n")
    (export / "sft_instruct.jsonl").write_text("".join(
        json.dumps({"id": r["id"], "messages": [{"role": "user", "content": r["prompt"]},
                    {"role": "assistant", "content": r["instruct_response"]}]}) + "\n"
        for r in rows))  # fmt: skip
    for fmt, key in (("instruct", "instruct_response"), ("cot", "cot_response")):
        ex = list(read_examples([export], fmt=fmt))
        assert len(ex) == 3 and ex[0].origin.endswith("falsereject.jsonl:0")
        last = ex[2].messages[-1]["content"]
        want = rows[2][key] if fmt == "instruct" else rows[2][key]["solution"]
        assert last.endswith(want)
    chat = list(read_examples([export / "sft_instruct.jsonl"]))
    assert [e.messages for e in chat] == [e.messages for e in read_examples([export])]
