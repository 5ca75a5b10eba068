"""`refusalkit finetune` end to end on this CPU: SmolLM2-135M loaded from its GGUF, LoRA on
12 FalseReject-style examples plus a general mix for 2 steps, GGUF export, and the result
served by `refusalkit serve-local` answering a real HTTP request.

The training itself is tiny (it moves the model very little); what is checked is that every
stage is right: assistant-only labels, a loss history, the adapter, GGUF tensors that match
the source model's (same names, shapes, rotary layout), metadata copied from the source,
and a sensible answer from llama.cpp, which a wrongly permuted tensor would garble.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from refusalkit.cli.app import app

pytestmark = [pytest.mark.train, pytest.mark.slow]
pytest.importorskip("peft")
pytest.importorskip("gguf")
pytest.importorskip("transformers")


def _base() -> Path:
    from refusalkit.llm.local import local_available

    reason = local_available()
    if reason:
        pytest.skip(f"bundled SmolLM2 / llama.cpp unavailable: {reason}")
    from refusalkit.finetune.model import default_base

    return Path(default_base())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = _base()
    fixtures = Path(__file__).parent / "fixtures"
    out = tmp_path_factory.mktemp("ft") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFUSALKIT_HOME", str(out.parent / "home"))
        res = CliRunner().invoke(app, [
            "finetune", "--data", str(fixtures / "finetune" / "falsereject_sft_sample.jsonl"),
            "--mix", str(fixtures / "readers" / "dolly_sample.csv"), "--mix-ratio", "0.25",
            "--max-steps", "2", "--batch-size", "1", "--max-length", "256", "--no-merge",
            "--gguf", "f16", "-o", str(out), "--json",
        ])  # fmt: skip
    assert res.exit_code == 0, res.output
    return {"out": out, "record": orjson.loads(res.stdout), "base": base}


def test_record_and_files(run: dict[str, Any]) -> None:
    rec, out = run["record"], run["out"]
    assert rec["base"]["gguf_path"] == str(run["base"]) == rec["tokenizer_gguf"]
    assert rec["data_stats"]["data_examples"] == 12 and rec["data_stats"]["mix_examples"] == 3
    tr = rec["train"]
    assert tr["steps"] == 2 and len(tr["loss_history"]) == 2 and tr["first_loss"] > 0
    assert 0 < tr["trainable_parameters"] < tr["parameters"] / 10
    assert tr["assistant_tokens"] < tr["tokens"]
    assert (out / "adapter" / "adapter_config.json").is_file() and not (out / "merged").exists()
    assert len((out / "train.jsonl").read_text().splitlines()) == 15
    # verified by serving it with llama.cpp and asking a question
    assert rec["verify"]["ok"] and rec["verify"]["answer"].strip()


def test_gguf_matches_the_source_model(run: dict[str, Any]) -> None:
    import gguf
    from gguf.quants import dequantize

    src, new = gguf.GGUFReader(str(run["base"])), gguf.GGUFReader(str(run["out"] / "model.gguf"))
    src_t = {t.name: t for t in src.tensors}
    new_t = {t.name: t for t in new.tensors}
    assert set(src_t) == set(new_t)
    for name, t in new_t.items():
        a = dequantize(src_t[name].data, src_t[name].tensor_type).reshape(t.data.shape)
        b = np.asarray(t.data, dtype=np.float32)
        # 2 LoRA steps move weights a little; a wrong layout would be off by ~100%
        rel = np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-8)
        assert rel < 0.05, (name, rel)
        assert t.tensor_type.name == ("F32" if t.data.ndim == 1 else "F16")
    for key in ("tokenizer.chat_template", "tokenizer.ggml.eos_token_id", "llama.block_count"):
        assert new.get_field(key).contents() == src.get_field(key).contents()
    assert new.get_field("general.file_type").contents() == int(gguf.LlamaFileType.MOSTLY_F16)


def test_assistant_only_labels(run: dict[str, Any]) -> None:
    from refusalkit.finetune.model import IGNORE, encode, load_tokenizer, resolve_base

    tok = load_tokenizer(resolve_base(str(run["base"])))
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]  # fmt: skip
    row = encode(tok, msgs, 512)
    assert row is not None
    learned = [i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != IGNORE]
    assert tok.decode(learned) == "Hello!<|im_end|>\nGoodbye.<|im_end|>\n"
    assert encode(tok, msgs, 8) is None  # truncated before any assistant token


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def test_serve_local_answers_over_http(run: dict[str, Any], tmp_path: Path) -> None:
    from refusalkit.llm.local import free_port, healthy

    port = free_port()
    env = {**os.environ, "REFUSALKIT_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from refusalkit.cli.app import main; main()", "serve-local",
         "--model", str(run["out"] / "model.gguf"), "--port", str(port), "--parallel", "1",
         "--ctx", "2048"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while not healthy(base):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "serve-local did not come up"
            time.sleep(0.5)
        answer = _post(f"{base}/chat/completions", {
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "max_tokens": 24, "temperature": 0,
        })  # fmt: skip
        text = answer["choices"][0]["message"]["content"]
        assert "Paris" in text, text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """A run killed in step 2 of 3 (a callback raising KeyboardInterrupt, the exception
    Ctrl-C raises, before step 2 is saved) resumes from checkpoint-1 on the same command,
    keeps the loss history of the step before the interruption, then reports the job as
    done; other settings in the same folder are refused."""
    from transformers import TrainerCallback

    from refusalkit.core.errors import ConfigError
    from refusalkit.finetune import FinetuneJob, TrainSettings, run_finetune

    class _Interrupt(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == 2:
                raise KeyboardInterrupt

    data = Path(__file__).parent / "fixtures" / "finetune" / "falsereject_sft_sample.jsonl"

    def job(**kw: Any) -> FinetuneJob:
        settings = TrainSettings(max_steps=3, batch_size=1, max_length=192, save_steps=1,
                                 lora_r=4, **kw)  # fmt: skip
        return FinetuneJob(output=tmp_path / "ft", data=[data], base=str(_base()), limit=3,
                           settings=settings, merge=False, gguf="none", verify=False)  # fmt: skip

    first = job()
    first.callbacks = [_Interrupt()]
    with pytest.raises(KeyboardInterrupt):
        run_finetune(first)
    ckpts = sorted(p.name for p in (tmp_path / "ft" / "checkpoints").iterdir())
    assert ckpts == ["checkpoint-1"] and not (tmp_path / "ft" / "finetune.json").exists()

    rec = run_finetune(job())
    tr = rec["train"]
    assert tr["resumed_from"] == "checkpoint-1" and tr["steps_this_session"] == 2
    assert [h["step"] for h in tr["loss_history"]] == [1, 2, 3]
    assert (tmp_path / "ft" / "adapter" / "adapter_config.json").is_file()
    assert not (tmp_path / "ft" / "checkpoints").exists()
    assert run_finetune(job()).get("already_done") is True
    with pytest.raises(ConfigError, match="settings") as err:
        run_finetune(job(lr=1e-3))
    assert "--overwrite" in str(err.value)
