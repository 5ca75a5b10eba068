"""`refusalkit endpoints`, `serve-local`, `setup-local` and generate's error paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refusalkit.cli.app import app
from refusalkit.core.errors import ConfigError

MAIN = "from refusalkit.cli.app import main; main()"


def test_endpoints_lists_without_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "refusalkit.toml").write_text(
        'default = "gpt"\n[endpoints.gpt]\nbase_url = "https://user:pw@api.example.com/v1?k=1"\n'
        'model = "gpt-x"\napi_key_env = "GPT_KEY"\nrpm = 60\n'
    )
    secret = "sk-very-secret-value-123"
    monkeypatch.setenv("GPT_KEY", secret)
    res = CliRunner().invoke(app, ["endpoints", "--json"])
    assert res.exit_code == 0 and secret not in res.output and "pw@" not in res.output
    data = json.loads(res.output)
    eps = {e["name"]: e for e in data["endpoints"]}
    assert data["default"] == "gpt" and eps["gpt"]["default"] and eps["gpt"]["api_key_set"]
    assert (
        eps["gpt"]["base_url"] == "https://api.example.com/v1"
        and eps["gpt"]["api_key_env"] == "GPT_KEY"
    )
    assert eps["local"]["provider"] == "local"
    table = CliRunner().invoke(app, ["endpoints"])
    assert table.exit_code == 0 and "GPT_KEY" in table.output and secret not in table.output


def test_generate_unknown_endpoint_is_a_user_error(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "hi"}\n')
    res = subprocess.run(
        [sys.executable, "-c", MAIN, "generate", str(prompts), "-o", str(tmp_path / "o.jsonl"), "-e", "nope"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=120,
    )  # fmt: skip
    assert (
        res.returncode == 2
        and "unknown endpoint 'nope'" in res.stderr
        and "Traceback" not in res.stderr
    )


def test_generate_missing_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "refusalkit.toml").write_text(
        '[endpoints.gpt]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\napi_key_env = "UNSET_KEY_VAR"\n'
    )
    monkeypatch.delenv("UNSET_KEY_VAR", raising=False)
    (tmp_path / "p.jsonl").write_text('{"prompt": "hi"}\n')
    res = CliRunner().invoke(app, ["generate", "p.jsonl", "-o", "o.jsonl", "-e", "gpt"])
    assert isinstance(res.exception, ConfigError) and "UNSET_KEY_VAR" in str(res.exception)
    assert not (tmp_path / "o.jsonl").exists()


def test_setup_local_when_installed() -> None:
    from refusalkit.llm.local import local_available

    if reason := local_available():
        pytest.skip(reason)
    res = CliRunner().invoke(app, ["setup-local"])
    assert (
        res.exit_code == 0 and "local model ready" in res.output and "running: " not in res.output
    )


@pytest.mark.llm
def test_serve_local_is_found_and_stops_cleanly(tmp_path: Path) -> None:
    """`serve-local` records itself; the `local` endpoint then uses it; Ctrl-C stops it."""
    from refusalkit.llm.local import (
        bundled_gguf,
        find_running,
        free_port,
        local_available,
        state_path,
    )

    if reason := local_available():
        pytest.skip(reason)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", MAIN, "serve-local", "--port", str(port), "--parallel", "1", "--ctx", "2048"],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # wait for *this* server's record (a state file left by a killed server is
        # stale: its URL is not healthy, so find_running ignores it)
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and find_running(bundled_gguf()) != url:
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.2)
        assert find_running(bundled_gguf()) == url
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert f"http://127.0.0.1:{port}/v1" in out.decode()
    assert not state_path().exists()
