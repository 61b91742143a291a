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
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from emulation.authorization.api_calls import MalformedRequest, parse_request
from emulation.authorization.authorizer import Authorizer, UnmappedOperation, Verdict
from emulation.tls import TlsServerMixin, handshake, server_context

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


class _Server(TlsServerMixin, ThreadingHTTPServer):
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
    """The local stack's front door for every service but CloudFormation: it authorizes each call (when
    given an `authorizer`), applies the injected faults, and forwards the rest to moto."""

    def __init__(self, upstream_url: str, *, authorizer: Authorizer | None = None, tls: bool = False) -> None:
        upstream = urlsplit(upstream_url)
        self.tls = tls
        self._upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
        self._lock = threading.Lock()
        self.faults: list[ProxyFault] = []
        self.calls: list[Call] = []
        self.authorizer = authorizer
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
        self._server.tls = server_context() if self.tls else None
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def send_upstream(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            headers = {
                name: value
                for name, value in headers.items()
                if name.lower() not in {"content-length", "transfer-encoding"}
            }
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

    def setup(self) -> None:
        handshake(self.request)
        super().setup()

    def log_message(self, format: str, *args: object) -> None:
        return

    def _handle(self) -> None:
        body = self._read_body()
        call = Call(
            self.command,
            self.path,
            classify(self.command, self.path, self.headers.get("X-Amz-Target")),
            body,
        )
        answered, verdict = self._authorize(body)
        if answered:
            return
        if verdict is not None and verdict.denial is not None:
            denial = verdict.denial
            self._error(denial.status, denial.code, denial.message, bucket_region=denial.bucket_region)
            return
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
        injected = fault.failed_entries if fault is not None and fault.kind == "partial_events" else {}
        failed = {index: (code, "injected by the fault proxy") for index, code in injected.items()}
        if verdict is not None:
            failed |= {index: (denial.code, denial.message) for index, denial in verdict.denied_items.items()}
        if failed:
            self._partial_events(body, failed)
            return
        self._forward(body, verdict)

    def _read_body(self) -> bytes:
        """The request body, whether sized or sent with Transfer-Encoding: chunked (botocore streams S3
        uploads over HTTPS that way, with aws-chunked content and a trailing checksum)."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""
        chunks = []
        while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline().strip():  # trailers, up to the empty line
            pass
        return b"".join(chunks)

    def _authorize(self, body: bytes) -> tuple[bool, Verdict | None]:
        """(answered already, the authorizer's verdict or None without an authorizer)."""
        authorizer = self.server.proxy.authorizer
        if authorizer is None:
            return False, None
        try:
            secure = self.server.tls is not None
            call = parse_request(self.command, self.path, dict(self.headers), body, secure_transport=secure)
            return False, authorizer.authorize(call)
        except (MalformedRequest, UnmappedOperation) as error:
            # Loud and not retried: a call the local stack cannot authorize must not pass silently.
            self._error(400, "LocalAuthorizerRefused", str(error))
            return True, None
        except Exception as error:  # a bug of the emulation must reach the caller as an error, not a reset
            self._error(400, "LocalAuthorizerFailed", f"{type(error).__name__}: {error}")
            return True, None

    def _forward(self, body: bytes, verdict: Verdict | None = None) -> None:
        status, headers, payload = self.server.proxy.send_upstream(
            self.command, self.path, dict(self.headers), body
        )
        authorizer = self.server.proxy.authorizer
        if (
            status == HTTPStatus.NOT_FOUND
            and verdict is not None
            and authorizer is not None
            and not authorizer.allows_not_found(verdict)
        ):
            # S3 answers a missing key with 403 to a caller that may not list the bucket.
            self._error(403, "AccessDenied", "Access Denied")
            return
        self.send_response(status)
        length = str(len(payload))
        for name, value in headers:
            if name.lower() == "content-length" and self.command == "HEAD":
                length = value  # a HEAD has no body, but its Content-Length is the object's size
            if name.lower() not in {
                "content-length",
                "transfer-encoding",
                "connection",
                "date",
                "server",
            }:
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, code: str, message: str, *, bucket_region: str | None = None) -> None:
        # The query protocol (STS, SNS...) posts a form; the JSON protocols name a target or are REST-JSON
        # (X-Ray); S3 is REST-XML.
        query_protocol = not self.headers.get("X-Amz-Target") and (
            self.headers.get("Content-Type") or ""
        ).startswith("application/x-www-form-urlencoded")
        json_protocol = not query_protocol and (
            bool(self.headers.get("X-Amz-Target"))
            or "/s3/aws4_request" not in (self.headers.get("Authorization") or "/s3/aws4_request")
        )
        if json_protocol:
            payload = json.dumps({"__type": code, "message": message}).encode()
            content_type = "application/x-amz-json-1.1"
        elif query_protocol:
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Type>Sender</Type>'
                f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
                "<RequestId>proxy</RequestId></ErrorResponse>"
            ).encode()
            content_type = "text/xml"
        else:
            region = f"<Region>{escape(bucket_region)}</Region>" if bucket_region else ""
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{escape(code)}</Code>'
                f"<Message>{escape(message)}</Message>{region}<RequestId>proxy</RequestId></Error>"
            ).encode()
            content_type = "application/xml"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if json_protocol:  # REST-JSON services (X-Ray) carry the code in this header
            self.send_header("x-amzn-ErrorType", code)
        if bucket_region:
            self.send_header("x-amz-bucket-region", bucket_region)
        if self.command == "HEAD":  # a HEAD answer has no body, whatever the error
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _partial_events(self, body: bytes, failed: dict[int, tuple[str, str]]) -> None:
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
                code, message = failed[index]
                results.append({"ErrorCode": code, "ErrorMessage": message})
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
