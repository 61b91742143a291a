"""A fault-injecting HTTP proxy in front of moto: S3 and EventBridge calls pass through it, and rules
make chosen calls fail the way AWS fails (500/503 SlowDown, 412, connection resets, delays), or make
PutEvents fail for chosen entries only."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

ProxyFaultKind = Literal[
    "slow_down", "internal_error", "precondition_failed", "reset", "delay", "partial_events"
]

_S3_ERRORS = {
    "slow_down": (503, "SlowDown", "Please reduce your request rate."),
    "internal_error": (500, "InternalError", "We encountered an internal error. Please try again."),
    "precondition_failed": (
        412,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
    ),
}


@dataclass(frozen=True)
class Call:
    """What the proxy saw of one request, enough to match rules on."""

    method: str
    path: str
    operation: str  # S3: PutObject/GetObject/DeleteObjects/...; EventBridge: PutEvents/...
    body: bytes


@dataclass
class ProxyFault:
    operation: str
    kind: ProxyFaultKind
    match: Callable[[Call], bool] = lambda _call: True
    after_calls: int = 0
    times: int | None = 1
    delay: float = 0.0
    failed_entries: dict[int, str] = field(default_factory=dict)  # partial_events: entry index -> error code
    seen: int = 0
    fired: int = 0

    def applies(self, call: Call) -> bool:
        if call.operation != self.operation or not self.match(call):
            return False
        self.seen += 1
        if self.seen <= self.after_calls or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


def classify(method: str, path: str, target: str | None) -> str:
    if target:
        return target.rsplit(".", 1)[-1]
    parts = urlsplit(path)
    query = parts.query
    segments = [segment for segment in parts.path.split("/") if segment]
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if len(segments) > 1:  # /bucket/key
        return {"PUT": "PutObject", "GET": "GetObject", "DELETE": "DeleteObject", "HEAD": "HeadObject"}.get(
            method, method
        )
    return f"{method}Bucket"


class FaultProxy:
    def __init__(self, upstream_url: str) -> None:
        upstream = urlsplit(upstream_url)
        self._upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
        self._lock = threading.Lock()
        self.faults: list[ProxyFault] = []
        self.calls: list[Call] = []
        self._server: _Server | None = None

    def inject(self, operation: str, kind: ProxyFaultKind, **options: object) -> ProxyFault:
        fault = ProxyFault(operation=operation, kind=kind, **options)  # type: ignore[arg-type]
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def start(self) -> str:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def send_upstream(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            headers = {name: value for name, value in headers.items() if name.lower() != "content-length"}
            headers["Content-Length"] = str(len(body))
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        call = Call(
            self.command,
            self.path,
            classify(self.command, self.path, self.headers.get("X-Amz-Target")),
            body,
        )
        with self.server.proxy._lock:
            self.server.proxy.calls.append(call)
            fault = next((item for item in self.server.proxy.faults if item.applies(call)), None)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if fault is not None and fault.kind in _S3_ERRORS:
            self._error(*_S3_ERRORS[fault.kind])
            return
        if fault is not None and fault.kind == "partial_events":
            self._partial_events(body, fault.failed_entries)
            return
        self._forward(body)

    def _forward(self, body: bytes, *, rewrite: Callable[[bytes], bytes] | None = None) -> None:
        status, headers, payload = self.server.proxy.send_upstream(
            self.command, self.path, dict(self.headers), body
        )
        if rewrite is not None:
            payload = rewrite(payload)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in {
                "content-length",
                "transfer-encoding",
                "connection",
                "date",
                "server",
            }:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, code: str, message: str) -> None:
        if self.headers.get("X-Amz-Target"):
            payload = json.dumps({"__type": code, "message": message}).encode()
            content_type = "application/x-amz-json-1.1"
        else:
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>proxy</RequestId></Error>"
            ).encode()
            content_type = "application/xml"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _partial_events(self, body: bytes, failed: dict[int, str]) -> None:
        request = json.loads(body)
        entries = request["Entries"]
        kept = [entry for index, entry in enumerate(entries) if index not in failed]
        results: list[dict[str, str]] = []
        if kept:
            forwarded = json.dumps({**request, "Entries": kept}).encode()
            _, _, payload = self.server.proxy.send_upstream(
                self.command, self.path, dict(self.headers), forwarded
            )
            upstream_results = iter(json.loads(payload).get("Entries", []))
        for index in range(len(entries)):
            if index in failed:
                results.append({"ErrorCode": failed[index], "ErrorMessage": "injected by the fault proxy"})
            else:
                results.append(next(upstream_results))
        reply = json.dumps(
            {"FailedEntryCount": sum("ErrorCode" in item for item in results), "Entries": results}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle
