"""Endpoint configuration: refusalkit.toml, REFUSALKIT_* variables, defaults, key handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from refusalkit.core.errors import ConfigError
from refusalkit.llm.config import (
    all_endpoints,
    default_name,
    load_config,
    resolve_endpoint,
    safe_url,
)

TOML = """
default = "gpt"

[endpoints.gpt]
base_url = "https://api.example.com/v1"
model = "gpt-test"
api_key_env = "TEST_GPT_KEY"
max_concurrency = 16
rpm = 500
tpm = 100000
timeout = 30
price_input_per_million = 0.15
price_output_per_million = 0.6

[endpoints.gpt.params]
temperature = 0.0
max_tokens = 512

[endpoints.claude]
provider = "anthropic"
model = "claude-test"
api_key_env = "TEST_ANTHROPIC_KEY"

[endpoints.tiny]
provider = "local"
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "refusalkit.toml"
    path.write_text(TOML)
    monkeypatch.chdir(tmp_path)
    return path


def test_config_file_endpoints(config_file: Path) -> None:
    config = load_config()
    assert config.path == config_file
    gpt = config.endpoints["gpt"]
    assert gpt.model == "gpt-test" and gpt.max_concurrency == 16 and gpt.rpm == 500
    assert gpt.params == {"temperature": 0.0, "max_tokens": 512}
    assert gpt.price_input == pytest.approx(0.15e-6) and gpt.price_output == pytest.approx(0.6e-6)
    assert gpt.cost(1000, 1000) == pytest.approx(0.75e-3)
    assert config.endpoints["claude"].provider == "anthropic"
    assert config.endpoints["tiny"].is_local and config.endpoints["tiny"].model_path
    assert default_name(config) == "gpt"
    assert resolve_endpoint().name == "gpt"
    assert resolve_endpoint("local").is_local  # always available


def test_config_path_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(TOML)
    monkeypatch.setenv("REFUSALKIT_CONFIG", str(path))
    assert load_config().path == path
    monkeypatch.setenv("REFUSALKIT_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config()


def test_default_is_local_without_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ep = resolve_endpoint()
    assert ep.name == "local" and ep.is_local and ep.model_path.endswith(".gguf")
    assert ep.identity == f"local://{Path(ep.model_path).name}"


def test_env_vars_select_default(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFUSALKIT_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("REFUSALKIT_MODEL", "some-model")
    monkeypatch.setenv("REFUSALKIT_API_KEY", "sk-env-secret")
    ep = resolve_endpoint()  # env wins over the file's default
    assert (ep.name, ep.base_url, ep.model, ep.api_key_env) == (
        "env",
        "http://127.0.0.1:9/v1",
        "some-model",
        "REFUSALKIT_API_KEY",
    )
    assert ep.api_key() == "sk-env-secret"
    assert "sk-env-secret" not in repr(ep) and "sk-env-secret" not in str(ep.public_dict())
    assert set(all_endpoints()) == {"gpt", "claude", "tiny", "env", "local"}


def test_env_model_gguf_means_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    gguf = tmp_path / "my-model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("REFUSALKIT_MODEL", str(gguf))
    ep = resolve_endpoint()
    assert ep.is_local and ep.model_path == str(gguf) and ep.model == "my-model"


def test_missing_key_is_a_config_error(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_GPT_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"\$TEST_GPT_KEY") as info:
        resolve_endpoint("gpt").api_key()
    assert "export TEST_GPT_KEY" in str(info.value)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('base_url = "http://x/v1"\nmodel = "m"\napi_key = "sk-123"', "never stored"),
        ('base_url = "http://x/v1"\nmodel = "m"\ntemprature = 1', "unknown key 'temprature'"),
        ('base_url = "http://x/v1"\nmodel = "m"\nprovider = "bogus"', "provider 'bogus'"),
        ('model = "m"', "base_url is required"),
        ('base_url = "http://x/v1"', "model is required"),
        ('base_url = "http://x/v1"\nmodel = "m"\nmax_concurrency = 0', "positive integer"),
        ('base_url = "http://x/v1"\nmodel = "m"\nstructured_output = "xml"', "structured_output"),
    ],
)
def test_invalid_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "refusalkit.toml").write_text(f"[endpoints.bad]\n{table}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config()
    assert "refusalkit.toml" in str(info.value) and "[endpoints.bad]" in str(info.value)


def test_unknown_endpoint_lists_known(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="unknown endpoint 'nope'") as info:
        resolve_endpoint("nope")
    assert "gpt" in str(info.value) and "local" in str(info.value)


def test_safe_url_drops_credentials() -> None:
    assert (
        safe_url("https://user:pw@api.example.com:8443/v1/?api-key=SECRET#x")
        == "https://api.example.com:8443/v1"
    )
