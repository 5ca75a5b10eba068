"""A tiny fault-injecting OpenAI-compatible chat server, for tests and benchmarks only.

It is the one fake in the LLM tests, and exists to produce the failures a real server
produces rarely and unpredictably: 429 with Retry-After, 5xx, hangs, malformed JSON,
connection resets, truncated bodies and streams. Everything else runs against the real
local model.

Faults are requested *by the prompt*, so one batch can mix healthy and broken rows:
a user message containing `[[fault:429@1,500]]` gets a 429 (Retry-After: 1), then a 500,
then a normal answer on its third attempt. `ACTION*` repeats forever (until `heal()`).
Actions: 429[@secs], 500, 503, 400, hang, malformed, reset, truncated, cut (stream cut
mid-chunk), slow@secs, echoauth (a 400 whose message repeats the Authorization header).
Without a directive the answer is `echo: <prompt>`, or whatever `responder(body)`
returns. `reject_schema = True` answers requests with `response_format` by a 400.

Run standalone as an instant server: `python tests/fault_server.py --port 8799`.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import orjson

_DIRECTIVE = re.compile(r"\[\[fault:([^\]]+)\]\]")


def _prompt(body: dict[str, Any]) -> str:
    msgs = body.get("messages") or []
    users = [m.get("content") or "" for m in msgs if m.get("role") == "user"]
    return users[-1] if users else ""


def completion_body(
    text: str, model: str = "fault-server", finish: str = "stop", **message_extra: Any
) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, **message_extra},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": 7,
                "completion_tokens": max(1, len(text.split())),
                "total_tokens": 8,
            },
        }
    )


class FaultServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.responder: Callable[[dict[str, Any]], str | bytes] | None = None
        self.healed = False
        #: answer requests that ask for response_format with a 400, like servers without it
        self.reject_schema = False
        self.bodies: list[dict[str, Any]] = []  # every chat request body received
        self.attempts: Counter[str] = Counter()  # prompt -> requests received
        self.times: defaultdict[str, list[float]] = defaultdict(list)
        self.total = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def heal(self) -> None:
        """From now on answer every request normally (faults ignored)."""
        self.healed = True

    # -------------------------------------------------------------- lifecycle
    def start(self) -> FaultServer:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self.port, backlog=2048)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            for task in list(self._handlers):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0.05))
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="fault-server")
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            self._loop.stop()  # type: ignore[union-attr]

        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- HTTP
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                raw = await reader.readexactly(length) if length else b""
                if not await self._respond(head, raw, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _respond(self, head: bytes, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        """Write one response; False when the connection must be dropped."""
        self.total += 1
        if head.startswith(b"GET"):
            models = orjson.dumps(
                {"object": "list", "data": [{"id": "fault-model", "object": "model"}]}
            )
            writer.write(_http(200, models))
            return True
        body = orjson.loads(raw) if raw else {}
        self.bodies.append(body)
        prompt = _prompt(body)
        self.attempts[prompt] += 1
        self.times[prompt].append(time.monotonic())
        action = "" if self.healed else self._action(prompt, self.attempts[prompt])
        name, _, arg = action.partition("@")
        stream = bool(body.get("stream"))
        if self.reject_schema and "response_format" in body:
            msg = b'{"error":{"message":"response_format of type json_schema is not supported"}}'
            writer.write(_http(400, msg))
        elif name == "echoauth":  # a careless server that puts the credential in its error
            auth = next(
                (ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"authorization:")), b""
            )
            writer.write(
                _http(
                    400,
                    b'{"error":{"message":"bad credential: '
                    + auth.split(b":", 1)[-1].strip()
                    + b'"}}',
                )
            )
        elif name == "429":
            writer.write(
                _http(
                    429,
                    b'{"error":{"message":"slow down"}}',
                    [(b"Retry-After", (arg or "1").encode())],
                )
            )
        elif name in ("500", "503", "400"):
            writer.write(_http(int(name), b'{"error":{"message":"injected failure"}}'))
        elif name == "hang":
            await asyncio.sleep(3600)
            return False
        elif name == "malformed":
            writer.write(_http(200, b'{"choices": [{"message": {"content": "unterminated'))
        elif name == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif name in ("truncated", "cut") and not stream:
            payload = completion_body("this answer will be cut short")
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                % len(payload)
                + payload[: len(payload) // 2]
            )
            await writer.drain()
            return False
        else:
            if name == "slow":
                await asyncio.sleep(float(arg or 1))
            text = self.responder(body) if self.responder else f"echo: {prompt}"
            if isinstance(text, bytes):  # a responder may return a whole raw body
                writer.write(_http(200, text))
            elif stream:
                await self._stream(writer, text, cut=name if name in ("truncated", "cut") else "")
                return name != "cut"
            else:
                writer.write(_http(200, completion_body(text)))
        await writer.drain()
        return True

    def _action(self, prompt: str, attempt: int) -> str:
        m = _DIRECTIVE.search(prompt)
        if not m:
            return ""
        actions = m.group(1).split(",")
        if attempt <= len(actions):
            return actions[attempt - 1].rstrip("*")
        last = actions[-1]
        return last.rstrip("*") if last.endswith("*") else ""

    async def _stream(self, writer: asyncio.StreamWriter, text: str, cut: str) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        words = text.split(" ")
        events = [
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": (" " if i else "") + w},
                        "finish_reason": None,
                    }
                ]
            }
            for i, w in enumerate(words)
        ]
        if cut:
            events = events[: max(1, len(events) // 2)]
        else:
            events.append(
                {
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": len(words)},
                }
            )
        for ev in events:
            data = (
                b"data: "
                + orjson.dumps({"object": "chat.completion.chunk", "model": "fault-server", **ev})
                + b"\n\n"
            )
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        if cut == "cut":
            writer.write(b'40\r\ndata: {"choi')  # die in the middle of a chunk
            await writer.drain()
            writer.transport.abort()
            return
        if not cut:
            writer.write(b"e\r\ndata: [DONE]\n\n\r\n")
        writer.write(b"0\r\n\r\n")


def _http(status: int, body: bytes, headers: list[tuple[bytes, bytes]] = ()) -> bytes:  # type: ignore[assignment]
    extra = b"".join(k + b": " + v + b"\r\n" for k, v in headers)
    return b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status,
        len(body),
        extra,
        body,
    )


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8799)
    args = ap.parse_args()
    fixed = completion_body("Sure, here is a short answer.")
    srv = FaultServer(port=args.port)
    srv.responder = lambda body: fixed
    srv.start()
    print(f"listening on {srv.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
