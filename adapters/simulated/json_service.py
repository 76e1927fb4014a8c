"""A small real HTTP/JSON server in a thread: the stand-in for an agency's web service.

The demo runs the welfare organisation's case-management service on it
(:mod:`adapters.simulated.welfare_service`) behind the generic HTTP/JSON adapter; tests run
slow, failing and garbage-answering services on it. It is the standard library's threading
HTTP server, on 127.0.0.1, closed by :meth:`JsonService.close` (or leaving its ``with``).
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

_LOG = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest request body the service reads; a larger one is answered 413."""


@dataclass(frozen=True)
class Request:
    """What the service was asked: method, path, query parameters, headers and JSON body."""

    method: str
    path: str
    params: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: object = None
    """The decoded JSON body; None without one."""


@dataclass(frozen=True)
class Reply:
    """What the service answers: a status and a body (JSON, unless it is garbage on purpose)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def json(cls, data: object, status: int = 200) -> Reply:
        """A JSON answer."""
        return cls(status, json.dumps(data, ensure_ascii=False).encode("utf-8"))


Handler = Callable[[Request], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that left mid-answer (a cancelled Fetch) is not an error; log the rest."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return
        _LOG.exception("the JSON service failed answering %s", client_address)


@dataclass
class JsonService:
    """Serves ``handler`` over HTTP on ``host`` (a free port) until closed."""

    handler: Handler
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    """Serve HTTPS with this server context; None: plain HTTP."""
    requests: list[Request] = field(default_factory=list)
    """Every request received, in order (tests count them)."""
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> JsonService:
        """Bind and start serving in a daemon thread."""
        service = self

        class _Handle(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the adapter pools connections
            # Headers and body go out as two writes; with Nagle on, the body waits for the
            # client's delayed ACK of the headers: 40 ms on every answer.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                self._answer(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._send(Reply.json({"error": "too large"}, 413))
                    return
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._send(Reply.json({"error": "the body is not JSON"}, 400))
                    return
                self._answer(body)

            def _answer(self, body: object) -> None:
                parts = urlsplit(self.path)
                request = Request(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers), body
                )
                service.requests.append(request)
                self._send(service.handler(request))

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                del format, args  # quiet: the adapter logs what matters

        self._server = _Server((self.host, 0), _Handle)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """``http://host:port`` (``https`` with TLS), without a trailing slash."""
        assert self._server is not None  # noqa: S101 - started first
        host, port = self._server.server_address[:2]
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> JsonService:
        """Start, for ``with JsonService(handler) as service``."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close."""
        self.close()
