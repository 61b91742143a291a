"""Local emulator of Lambda ``GetAccountSettings``, the one Lambda call preflight makes.

moto does not serve it (its quota lives only in ``MOTO_LAMBDA_CONCURRENCY_QUOTA``, checked when a
function's concurrency is put), so this answers it over Lambda's REST-JSON protocol on a loopback port;
unmodified boto3 reaches it through ``AWS_ENDPOINT_URL_LAMBDA``. The answer is checked against botocore's
output shape, and follows Lambda's rule: the unreserved executions are the quota less what functions reserve.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import botocore.session
from botocore.model import OperationModel, StructureShape

OPERATION = "GetAccountSettings"
# Lambda's default quota; new accounts may start lower (10), which is what preflight must notice.
DEFAULT_CONCURRENT_EXECUTIONS = 1000
_DENIED = (
    "User: arn:aws:sts::123456789012:assumed-role/deployer/session is not authorized to perform: "
    "lambda:GetAccountSettings on resource: * because no identity-based policy allows the "
    "lambda:GetAccountSettings action"
)


@cache
def _operation() -> OperationModel:
    return botocore.session.get_session().get_service_model("lambda").operation_model(OPERATION)


def _check_shape(shape: StructureShape, value: Mapping[str, Any]) -> None:
    """The answer must be what botocore's model says: known members, integers where it wants numbers."""
    unknown = set(value) - set(shape.members)
    if unknown:
        raise ValueError(f"{shape.name} does not define {sorted(unknown)}")
    for name, member in value.items():
        member_shape = shape.members[name]
        if isinstance(member_shape, StructureShape):
            _check_shape(member_shape, member)
        elif member_shape.type_name in {"integer", "long"} and (
            not isinstance(member, int) or isinstance(member, bool)
        ):
            raise ValueError(f"{shape.name}.{name} must be an integer, got {member!r}")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    status: int


class LambdaAccountApi:
    """``GET /2016-08-19/account-settings`` on ``http://127.0.0.1:<free port>``; every request is recorded."""

    def __init__(
        self,
        *,
        concurrent_executions: int = DEFAULT_CONCURRENT_EXECUTIONS,
        reserved_by_functions: int = 0,
        function_count: int = 0,
    ) -> None:
        if not 0 <= reserved_by_functions <= concurrent_executions:
            raise ValueError("functions cannot reserve more than the account's quota")
        self.concurrent_executions = concurrent_executions
        self.reserved_by_functions = reserved_by_functions
        self.function_count = function_count
        self.denied = False  # answer AccessDeniedException, as Lambda does without lambda:GetAccountSettings
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def settings(self) -> dict[str, Any]:
        answer = {
            "AccountLimit": {
                "TotalCodeSize": 80_530_636_800,
                "CodeSizeUnzipped": 262_144_000,
                "CodeSizeZipped": 52_428_800,
                "ConcurrentExecutions": self.concurrent_executions,
                "UnreservedConcurrentExecutions": self.concurrent_executions - self.reserved_by_functions,
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": self.function_count},
        }
        output = _operation().output_shape
        if not isinstance(output, StructureShape):
            raise TypeError(f"{OPERATION} has no output structure in botocore's model")
        _check_shape(output, answer)
        return answer

    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError("already started")
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.api = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.endpoint_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def answer(self, method: str, path: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request (REST-JSON: the error code travels in a header)."""
        http = _operation().http
        if not authorization:
            status, reply = 403, _error("MissingAuthenticationTokenException", "Missing Authentication Token")
        elif method != http["method"] or urlsplit(path).path.rstrip("/") != http["requestUri"].rstrip("/"):
            status, reply = 404, _error("UnknownOperationException", f"{method} {path} is not emulated")
        elif self.denied:
            status, reply = 403, _error("AccessDeniedException", _DENIED)
        else:
            status, reply = 200, ({}, json.dumps(self.settings()).encode())
        with self._lock:
            self.requests.append(RecordedRequest(method, path, status))
        headers, body = reply
        return (
            status,
            {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4()), **headers},
            body,
        )


def _error(code: str, message: str) -> tuple[dict[str, str], bytes]:
    return {"x-amzn-ErrorType": code}, json.dumps({"Type": "User", "Message": message}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        api: LambdaAccountApi = self.server.api  # type: ignore[attr-defined]
        status, headers, body = api.answer(self.command, self.path, self.headers.get("Authorization"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
