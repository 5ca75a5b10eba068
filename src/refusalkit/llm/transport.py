"""A lean HTTP/1.1 keep-alive transport for the openai SDK's httpx client.

Why: httpcore's connection pool re-checks every pooled socket on each request, which
costs about a millisecond per request and grows with the pool; at the concurrency a
batch job against a fast server needs (hundreds of requests in flight) the client, not
the model, became the bottleneck (~300 requests/s on one core). This transport keeps a
plain LIFO stack of idle asyncio streams per origin and parses responses with a few
bytes operations, which more than doubles throughput (see benchmarks/bench_llm_client.py).

Scope, deliberately small: HTTP/1.1 over TCP or TLS, Content-Length / chunked /
read-to-close bodies, keep-alive, connect/read/write timeouts from the request. No proxies
(the client falls back to httpx's own transport when proxy variables are set, or when an
endpoint says `transport = "httpx"`), no HTTP/2. Content decoding (gzip) stays in httpx.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import nullcontext, suppress
from typing import Any


def http_module() -> Any:
    """The httpx flavour the installed openai SDK is built on (`httpx2` or `httpx`)."""
    import openai._base_client as base

    return getattr(base, "httpx2", None) or getattr(base, "httpx")  # noqa: B009


def proxies_configured() -> bool:
    import os

    return any(
        os.environ.get(v)
        for v in (
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        )
    )


def _timeout(seconds: float | None) -> Any:
    return asyncio.timeout(seconds) if seconds else nullcontext()


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        return (
            now - self.idle_since < expiry
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        with suppress(OSError, RuntimeError):
            self.writer.close()


def make_transport(**kw: Any) -> Any:
    """Build a FastTransport subclassing the right httpx flavour's AsyncBaseTransport."""
    hx = http_module()

    class Body(hx.AsyncByteStream):  # type: ignore[misc, name-defined]
        """Response body reader; returns the connection to the pool once fully read."""

        def __init__(
            self,
            owner: Any,
            key: tuple,
            conn: _Conn,
            mode: str,
            length: int,
            reuse: bool,
            request: Any,
            read_t: float | None,
        ) -> None:
            self.owner, self.key, self.conn = owner, key, conn
            self.mode, self.length, self.reuse = mode, length, reuse
            self.request, self.read_t = request, read_t
            self.done = False

        async def __aiter__(self) -> AsyncIterator[bytes]:
            r = self.conn.reader
            try:
                async with _timeout(self.read_t):
                    if self.mode == "length":
                        if self.length:
                            yield await r.readexactly(self.length)
                    elif self.mode == "chunked":
                        while True:
                            size_line = await r.readuntil(b"\r\n")
                            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                            if size == 0:
                                while (await r.readuntil(b"\r\n")) != b"\r\n":
                                    pass  # trailers
                                break
                            chunk = await r.readexactly(size + 2)
                            yield chunk[:-2]
                    else:  # read until the server closes
                        while chunk := await r.read(65536):
                            yield chunk
                        self.reuse = False
            except TimeoutError as exc:
                self._discard()
                raise hx.ReadTimeout(
                    "timed out reading the response body", request=self.request
                ) from exc
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                self._discard()
                raise hx.RemoteProtocolError(
                    f"truncated or malformed response body: {exc}", request=self.request
                ) from exc
            except OSError as exc:
                self._discard()
                raise hx.ReadError(
                    f"connection lost while reading the body: {exc}", request=self.request
                ) from exc
            self.done = True
            if self.reuse:
                self.owner._release(self.key, self.conn)
            else:
                self._discard()

        def _discard(self) -> None:
            self.reuse = False
            self.conn.close()

        async def aclose(self) -> None:
            if not self.done:
                self._discard()

    class FastTransport(hx.AsyncBaseTransport):  # type: ignore[misc, name-defined]
        def __init__(
            self,
            *,
            keepalive_expiry: float = 15.0,
            max_idle: int = 256,
            ssl_context: ssl.SSLContext | None = None,
        ) -> None:
            self._idle: dict[tuple, list[_Conn]] = {}
            self.keepalive_expiry = keepalive_expiry
            self.max_idle = max_idle
            self._ssl = ssl_context

        def _ssl_context(self) -> ssl.SSLContext:
            if self._ssl is None:
                try:
                    import certifi

                    self._ssl = ssl.create_default_context(cafile=certifi.where())
                except ImportError:  # pragma: no cover
                    self._ssl = ssl.create_default_context()
            return self._ssl

        def _take(self, key: tuple) -> _Conn | None:
            stack = self._idle.get(key)
            now = time.monotonic()
            while stack:
                conn = stack.pop()
                if conn.usable(now, self.keepalive_expiry):
                    return conn
                conn.close()
            return None

        def _release(self, key: tuple, conn: _Conn) -> None:
            stack = self._idle.setdefault(key, [])
            if len(stack) >= self.max_idle:
                conn.close()
                return
            conn.idle_since = time.monotonic()
            stack.append(conn)

        async def _connect(
            self, request: Any, scheme: str, host: str, port: int, timeout: float | None
        ) -> _Conn:
            try:
                async with _timeout(timeout):
                    reader, writer = await asyncio.open_connection(
                        host, port, limit=1 << 20,
                        ssl=self._ssl_context() if scheme == "https" else None,
                        server_hostname=host if scheme == "https" else None,
                    )  # fmt: skip
            except TimeoutError as exc:
                raise hx.ConnectTimeout(
                    f"timed out connecting to {host}:{port}", request=request
                ) from exc
            except OSError as exc:
                raise hx.ConnectError(
                    f"cannot connect to {host}:{port}: {exc}", request=request
                ) from exc
            return _Conn(reader, writer)

        async def handle_async_request(self, request: Any) -> Any:
            url = request.url
            scheme = url.scheme
            port = url.port or (443 if scheme == "https" else 80)
            key = (scheme, url.host, port)
            t = request.extensions.get("timeout") or {}
            try:
                body = request.content
            except hx.RequestNotRead:
                body = await request.aread()
            head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode(), url.raw_path)]
            head.extend(k + b": " + v + b"\r\n" for k, v in request.headers.raw)
            payload = b"".join(head) + b"\r\n" + body
            for attempt in (0, 1):
                conn = self._take(key)
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(request, scheme, url.host, port, t.get("connect"))
                try:
                    conn.writer.write(payload)
                    async with _timeout(t.get("write")):
                        await conn.writer.drain()
                    async with _timeout(t.get("read")):
                        status, reason, headers = await self._read_head(conn.reader, request.method)
                    return self._response(
                        request, key, conn, status, reason, headers, t.get("read")
                    )
                except TimeoutError as exc:
                    conn.close()
                    raise hx.ReadTimeout(
                        "timed out waiting for the response", request=request
                    ) from exc
                except (OSError, asyncio.IncompleteReadError) as exc:
                    conn.close()
                    if reused and attempt == 0:
                        continue  # the server closed an idle keep-alive connection: retry fresh
                    if isinstance(exc, asyncio.IncompleteReadError):
                        raise hx.RemoteProtocolError(
                            "server closed the connection without a response", request=request
                        ) from exc
                    raise hx.ReadError(f"connection error: {exc}", request=request) from exc
                except (ValueError, asyncio.LimitOverrunError) as exc:
                    conn.close()
                    raise hx.RemoteProtocolError(
                        f"malformed response head: {exc}", request=request
                    ) from exc
            raise AssertionError("unreachable")  # pragma: no cover

        async def _read_head(
            self, reader: asyncio.StreamReader, method: str
        ) -> tuple[int, bytes, list]:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                lines = raw[:-4].split(b"\r\n")
                parts = lines[0].split(b" ", 2)
                if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                    raise ValueError(f"bad status line {lines[0][:80]!r}")
                status = int(parts[1])
                if 100 <= status < 200 and status != 101:
                    continue  # 100 Continue and friends precede the real response
                headers = []
                for line in lines[1:]:
                    name, sep, value = line.partition(b":")
                    if not sep:
                        raise ValueError(f"bad header line {line[:80]!r}")
                    headers.append((name.strip(), value.strip()))
                return status, (parts[2] if len(parts) > 2 else b""), headers

        def _response(
            self,
            request: Any,
            key: tuple,
            conn: _Conn,
            status: int,
            reason: bytes,
            headers: list,
            read_t: float | None,
        ) -> Any:
            mode, length, reuse, chunked = "close", 0, True, False
            for name, value in headers:
                lname = name.lower()
                if lname == b"content-length":
                    mode, length = "length", int(value)
                elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
                elif lname == b"connection" and b"close" in value.lower():
                    reuse = False
            if chunked:  # RFC 9112: chunked wins over Content-Length
                mode = "chunked"
            if request.method == "HEAD" or status in (204, 304):
                mode, length = "length", 0
            stream = Body(self, key, conn, mode, length, reuse, request, read_t)
            return hx.Response(
                status, headers=headers, stream=stream,
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
            )  # fmt: skip

        async def aclose(self) -> None:
            for stack in self._idle.values():
                for conn in stack:
                    conn.close()
            self._idle.clear()

    return FastTransport(**kw)
