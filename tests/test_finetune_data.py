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
