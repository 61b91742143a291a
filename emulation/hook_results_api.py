"""Local emulator of CloudFormation ``ListHookResults`` and ``GetHookResult``.

moto does not implement these operations, so this serves them over the real AWS query protocol
on a loopback port; unmodified boto3 talks to it through ``endpoint_url`` (or
``AWS_ENDPOINT_URL_CLOUDFORMATION``). botocore's service model is the source of truth for
parameter limits, response shapes and modelled errors. On top of the happy path it reproduces
what makes the real API awkward to consume: server-side paging snapshots, late-appearing and
in-progress results, retention, and scheduled faults (throttling, 5xx, broken tokens, resets).
"""

from __future__ import annotations

import contextlib
import random
import secrets
import socket
import struct
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, get_args
from urllib.parse import urlsplit

import botocore.session
from botocore.model import ListShape, OperationModel, ServiceModel, Shape, StructureShape

from emulation.authorization.action_map import actions_of
from emulation.authorization.api_calls import ApiCall, signature_scope
from emulation.authorization.authorizer import Authorizer
from emulation.query_protocol import (
    ErrorSpec,
    modeled_error,
    parse_form,
    serialize_error,
    serialize_response,
    validate_input,
    validation_message,
)
from emulation.tls import TlsServerMixin, handshake, server_context

API_VERSION = "2010-05-15"
LIST_HOOK_RESULTS = "ListHookResults"
GET_HOOK_RESULT = "GetHookResult"
# ListTypes and BatchDescribeTypeConfigurations: the registry reads preflight uses to find enabled hooks.
OPERATIONS = (LIST_HOOK_RESULTS, GET_HOOK_RESULT, "ListTypes", "BatchDescribeTypeConfigurations")

Order = Literal["newest_first", "oldest_first", "shuffled", "grouped_by_hook"]
ORDERS: frozenset[str] = frozenset(get_args(Order))

FaultKind = Literal[
    "throttle",
    "internal_error",
    "unavailable",
    "slow",
    "access_denied",
    "not_found",
    "invalid_token",
    "empty_page_with_token",
    "repeat_token",
    "duplicate_items",
    "overlapping_pages",
    "reset",
]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
# These shape a ListHookResults page, so they mean nothing for GetHookResult.
_PAGE_FAULTS = frozenset(
    {"invalid_token", "empty_page_with_token", "repeat_token", "duplicate_items", "overlapping_pages"}
)
_DUPLICATED_ITEMS = 3
# Bounds server memory when clients start many scans and never finish them.
_MAX_TOKENS = 100_000
_FILTER_TARGET_TYPES = frozenset({"CHANGE_SET", "CLOUD_CONTROL"})
_HOOK_RESULT_ID_LENGTH = 36
_IDLE_CONNECTION_TIMEOUT_S = 30.0


@cache
def cloudformation_model() -> ServiceModel:
    """botocore's CloudFormation model (loaded once; it is large)."""
    return botocore.session.get_session().get_service_model("cloudformation")


@cache
def _operation(name: str) -> OperationModel:
    return cloudformation_model().operation_model(name)


def _structure(shape: Shape | None) -> StructureShape:
    if not isinstance(shape, StructureShape):
        raise TypeError(f"expected a structure shape, got {shape!r}")
    return shape


def _list_member(shape: Shape) -> StructureShape:
    if not isinstance(shape, ListShape):
        raise TypeError(f"expected a list shape, got {shape!r}")
    return _structure(shape.member)


@dataclass(frozen=True)
class _ModelMembers:
    """Member names the model allows, so bad test data fails at add() rather than mid-request."""

    top_level: frozenset[str]  # of a summary or a GetHookResult response
    target: frozenset[str]
    annotation: frozenset[str]


@cache
def _model_members() -> _ModelMembers:
    summary = _list_member(_structure(_operation(LIST_HOOK_RESULTS).output_shape).members["HookResults"])
    get_output = _structure(_operation(GET_HOOK_RESULT).output_shape)
    return _ModelMembers(
        top_level=frozenset(summary.members) | frozenset(get_output.members),
        target=frozenset(_structure(get_output.members["Target"]).members),
        annotation=frozenset(_list_member(get_output.members["Annotations"]).members),
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class EmulatedHookResult:
    """One hook invocation as the emulated service stores it."""

    hook_result_id: str
    type_name: str
    type_arn: str
    status: str  # may be an enum value botocore does not know, e.g. "HOOK_SOMETHING_NEW"
    invoked_at: datetime  # tz-aware UTC, may carry microseconds
    target_type: str  # CHANGE_SET | STACK | RESOURCE | CLOUD_CONTROL
    target_id: str
    hook_execution_target: str
    failure_mode: str = "FAIL"  # FAIL | WARN (unknown values allowed too)
    invocation_point: str = "PRE_PROVISION"
    type_version_id: str = "00000001"
    type_configuration_version_id: str = "00000001"
    hook_status_reason: str | None = None
    original_type_name: str | None = None
    target: dict[str, str] | None = None  # GetHookResult Target: TargetType, TargetTypeName, TargetId, Action
    annotations: list[dict[str, str]] = field(default_factory=list)
    visible_from: datetime | None = None  # not listed before this emulator-clock time ("appears late")
    completes_at: datetime | None = None  # an in-progress result that finishes later ...
    final_status: str | None = None  # ... with this status ...
    final_reason: str | None = None  # ... and reason
    omitted_fields: frozenset[str] = frozenset()  # API member names left out of responses

    def at(self, now: datetime) -> EmulatedHookResult:
        """This result as the service reports it at ``now`` (an in-progress one may have finished)."""
        if self.completes_at is not None and self.completes_at <= now and self.final_status is not None:
            return replace(
                self,
                status=self.final_status,
                hook_status_reason=self.final_reason,
                completes_at=None,
                final_status=None,
                final_reason=None,
            )
        return self


@dataclass
class Fault:
    """A scheduled misbehaviour; see :meth:`HookResultsEmulator.inject`."""

    operation: str | None
    kind: FaultKind
    times: int | None = 1
    after_calls: int = 0
    delay: float = 0.0
    probability: float | None = None
    seen: int = 0  # matching calls observed since injection
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def _matches(self, operation: str, params: Mapping[str, str]) -> bool:
        if self.operation is not None and self.operation != operation:
            return False
        # A token fault can only hit a call that presents a token.
        return self.kind != "invalid_token" or "NextToken" in params


class FaultSchedule:
    """Faults per operation, applied to matching calls in injection order (one fault per call)."""

    def __init__(self, *, seed: int, lock: threading.RLock) -> None:
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)
        self._lock = lock

    def inject(
        self,
        *,
        operation: str | None = LIST_HOOK_RESULTS,
        kind: FaultKind,
        times: int | None = 1,
        after_calls: int = 0,
        delay: float = 0.0,
        probability: float | None = None,
    ) -> Fault:
        """Schedule a fault; returns it so tests can read ``fired`` afterwards.

        ``operation=None`` matches both operations. The first ``after_calls`` matching calls pass
        untouched, then the fault fires ``times`` times (``None``: forever), each eligible call
        with ``probability`` (``None``: always). ``delay`` seconds are slept before the
        response for any kind; ``slow`` does only that.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {OPERATIONS} or None")
        if kind in _PAGE_FAULTS and operation != LIST_HOOK_RESULTS:
            raise ValueError(
                f"fault {kind!r} shapes ListHookResults pages; set operation={LIST_HOOK_RESULTS!r}"
            )
        if times is not None and times < 1:
            raise ValueError("times must be positive or None")
        if after_calls < 0 or delay < 0:
            raise ValueError("after_calls and delay must not be negative")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        fault = Fault(operation, kind, times, after_calls, delay, probability)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults that can still fire."""
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.pending)

    def __len__(self) -> int:
        return len(self.pending)

    def _take(self, operation: str, params: Mapping[str, str]) -> Fault | None:
        with self._lock:
            chosen: Fault | None = None
            for fault in self._faults:
                if fault.exhausted or not fault._matches(operation, params):
                    continue
                fault.seen += 1
                if chosen is not None or fault.seen <= fault.after_calls:
                    continue
                if fault.probability is not None and self._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                chosen = fault
            return chosen


@dataclass(frozen=True)
class RecordedCall:
    """One request the emulator answered (or deliberately did not)."""

    operation: str
    params: dict[str, str]
    status: int  # 0 when the connection was reset without a response
    error_code: str | None = None
    fault: str | None = None
    request_id: str = ""


_Filters = tuple[str | None, str | None, str | None, str | None]  # TypeArn, Status, TargetType, TargetId


@dataclass(frozen=True)
class _Scan:
    ids: tuple[str, ...]
    filters: _Filters


@dataclass(frozen=True)
class _Token:
    scan: _Scan
    offset: int
    issued_at: datetime


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, sender_fault: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.sender_fault = sender_fault

    @classmethod
    def from_spec(cls, spec: ErrorSpec, message: str) -> _ApiError:
        return cls(spec.http_status, spec.code, message, sender_fault=spec.sender_fault)

    @classmethod
    def validation(cls, message: str) -> _ApiError:
        return cls(400, "ValidationError", message)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    request_id: str
    reset: bool = False


_FAULT_ERRORS: dict[str, tuple[int, str, str, bool]] = {
    "throttle": (400, "Throttling", "Rate exceeded", True),
    "internal_error": (500, "InternalFailure", "An internal error occurred. Try again later.", False),
    "unavailable": (503, "ServiceUnavailable", "Service is temporarily unavailable. Try again later.", False),
}


class HookResultsEmulator:
    """In-memory CloudFormation Hook results service on ``http://127.0.0.1:<free port>``.

    State changes are thread-safe; ``order``, ``page_size`` and ``clock`` may be reassigned
    between calls. Everything time-dependent (visibility, retention, completion, token expiry)
    is judged by ``clock``, not wall time.
    """

    def __init__(
        self,
        *,
        page_size: int = 100,
        order: str = "newest_first",
        seed: int = 0,
        retention_days: int = 90,
        clock: Callable[[], datetime] | None = None,
        token_ttl: timedelta | None = None,
        tls: bool = False,
    ) -> None:
        self._lock = threading.RLock()
        self._results: dict[str, EmulatedHookResult] = {}
        self._version = 0
        self._order_cache: dict[str, tuple[int, tuple[str, ...]]] = {}
        self._tokens: OrderedDict[str, _Token] = OrderedDict()
        self._scans_started = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.page_size = page_size
        self.order = order
        self.seed = seed
        self.retention_days = retention_days
        self.clock: Callable[[], datetime] = clock or _utc_now
        self.token_ttl = token_ttl
        self.faults = FaultSchedule(seed=seed, lock=self._lock)
        self.calls: list[RecordedCall] = []
        # With an authorizer, every call is authorized as IAM would (the caller's role, from moto).
        self.authorizer: Authorizer | None = None
        # The customer managed key hook results are encrypted with: GetHookResult then needs kms:Decrypt.
        self.results_kms_key_arn: str | None = None
        self.tls = tls  # serve HTTPS (emulation/tls.py), as AWS does
        # The hook registry preflight reads: hook types by TypeArn, and ListTypes tokens
        # (token -> (TypeArns, offset, the request they belong to)).
        self._hook_types: dict[str, dict[str, Any]] = {}
        self._hook_type_tokens: dict[str, tuple[tuple[str, ...], int, str]] = {}

    # -- configuration ---------------------------------------------------------------------

    @property
    def page_size(self) -> int:
        return self._page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        if value < 1:
            raise ValueError("page_size must be at least 1")
        self._page_size = value

    @property
    def order(self) -> str:
        return self._order

    @order.setter
    def order(self, value: str) -> None:
        if value not in ORDERS:
            raise ValueError(f"unknown order {value!r}; expected one of {sorted(ORDERS)}")
        self._order = value

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, *, port: int = 0) -> str:
        """Serve on 127.0.0.1 (``port=0``: any free port) and return the endpoint URL."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _Server(("127.0.0.1", port), _Handler, self)
        server.tls = server_context() if self.tls else None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="hook-results-emulator",
            daemon=True,
        )
        self._thread.start()
        return self.endpoint_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------

    def add(self, *results: EmulatedHookResult) -> None:
        """Store results; the emulator owns them afterwards (change them via the methods below)."""
        members = _model_members()
        for r in results:
            _check_result(r, members)
        with self._lock:
            duplicates = [r.hook_result_id for r in results if r.hook_result_id in self._results]
            if duplicates or len({r.hook_result_id for r in results}) != len(results):
                raise ValueError(f"duplicate hook_result_id(s): {duplicates[:5] or 'within this call'}")
            for r in results:
                self._results[r.hook_result_id] = r
            self._version += 1

    def results(self) -> list[EmulatedHookResult]:
        """Every stored result (visible or not) as of the emulator clock."""
        now = self.clock()
        with self._lock:
            return [r.at(now) for r in self._results.values()]

    def get(self, hook_result_id: str) -> EmulatedHookResult | None:
        now = self.clock()
        with self._lock:
            r = self._results.get(hook_result_id)
        return None if r is None else r.at(now)

    def set_status(self, hook_result_id: str, status: str, reason: str | None = None) -> None:
        """Change a result's status now; cancels any pending completion."""
        self.update(
            hook_result_id,
            status=status,
            hook_status_reason=reason,
            completes_at=None,
            final_status=None,
            final_reason=None,
        )

    def update(self, hook_result_id: str, **changes: Any) -> None:
        """Replace fields of a stored result (e.g. ``annotations=[...]``, ``visible_from=...``)."""
        with self._lock:
            current = self._results[hook_result_id]
            updated = replace(current, **changes)
            _check_result(updated, _model_members())
            if updated.hook_result_id != hook_result_id:
                raise ValueError("hook_result_id cannot change")
            self._results[hook_result_id] = updated
            self._version += 1

    def remove(self, hook_result_id: str) -> None:
        with self._lock:
            del self._results[hook_result_id]
            self._version += 1

    def clear(self) -> None:
        """Drop all results and outstanding tokens (faults and recorded calls stay)."""
        with self._lock:
            self._results.clear()
            self._tokens.clear()
            self._version += 1

    # -- faults and observability ---------------------------------------------------------------

    def inject(
        self,
        *,
        operation: str | None = LIST_HOOK_RESULTS,
        kind: FaultKind,
        times: int | None = 1,
        after_calls: int = 0,
        delay: float = 0.0,
        probability: float | None = None,
    ) -> Fault:
        """Shortcut for :meth:`FaultSchedule.inject` on ``self.faults``."""
        return self.faults.inject(
            operation=operation,
            kind=kind,
            times=times,
            after_calls=after_calls,
            delay=delay,
            probability=probability,
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def call_count(self, operation: str | None = None) -> int:
        with self._lock:
            return sum(1 for c in self.calls if operation is None or c.operation == operation)

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    @property
    def scans_started(self) -> int:
        """How many ListHookResults calls arrived without a NextToken."""
        return self._scans_started

    # -- request handling ------------------------------------------------------------------

    def _handle(self, headers: Mapping[str, str], query: str, body: bytes) -> _Reply:
        request_id = str(uuid.uuid4())
        params = parse_form(query) | parse_form(body)
        operation = params.pop("Action", "")
        version = params.pop("Version", None)
        fault: Fault | None = None
        try:
            _check_envelope(headers.get("Authorization"), operation, version)
            self._authorize(headers, operation, params)
            fault = self.faults._take(operation, params)
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "reset":
                self._record(operation, params, status=0, fault=fault, request_id=request_id)
                return _Reply(0, b"", request_id, reset=True)
            if fault is not None:
                self._raise_fault(fault, operation, params)
            result = self._dispatch(operation, params, fault)
            output_shape = _operation(operation).output_shape
            body_text = serialize_response(operation, output_shape, result, request_id=request_id)
            self._record(operation, params, status=200, fault=fault, request_id=request_id)
            return _Reply(200, body_text.encode("utf-8"), request_id)
        except _ApiError as error:
            return self._error_reply(error, operation, params, fault=fault, request_id=request_id)
        except Exception as exc:
            # A bug in the emulator or its data must reach the client as an error, not as a reset.
            internal = _ApiError(
                500, "InternalFailure", f"emulator error: {type(exc).__name__}: {exc}", sender_fault=False
            )
            return self._error_reply(internal, operation, params, fault=fault, request_id=request_id)

    def _authorize(self, headers: Mapping[str, str], operation: str, params: Mapping[str, str]) -> None:
        """Refuse what the caller's policies do not allow, as CloudFormation does (with an authorizer)."""
        if self.authorizer is None:
            return
        access_key_id, region, service = signature_scope(headers)
        call = ApiCall(
            service, operation, region, access_key_id, headers.get("X-Amz-Security-Token"), dict(params)
        )
        stored = self._results.get(params.get("HookResultId", "")) if operation == GET_HOOK_RESULT else None
        key = self.results_kms_key_arn if stored is not None else None
        verdict = self.authorizer.authorize(call, kms_key_id=key)
        if verdict.denial is not None:
            raise _ApiError(verdict.denial.status, verdict.denial.code, verdict.denial.message)

    def _error_reply(
        self,
        error: _ApiError,
        operation: str,
        params: dict[str, str],
        *,
        fault: Fault | None,
        request_id: str,
    ) -> _Reply:
        self._record(
            operation, params, status=error.status, code=error.code, fault=fault, request_id=request_id
        )
        document = serialize_error(
            code=error.code, message=error.message, sender_fault=error.sender_fault, request_id=request_id
        )
        return _Reply(error.status, document.encode("utf-8"), request_id)

    def _record(
        self,
        operation: str,
        params: dict[str, str],
        *,
        status: int,
        code: str | None = None,
        fault: Fault | None,
        request_id: str,
    ) -> None:
        call = RecordedCall(operation, params, status, code, fault.kind if fault else None, request_id)
        with self._lock:
            self.calls.append(call)

    def _raise_fault(self, fault: Fault, operation: str, params: Mapping[str, str]) -> None:
        kind = fault.kind
        if kind in _FAULT_ERRORS:
            status, code, message, sender = _FAULT_ERRORS[kind]
            raise _ApiError(status, code, message, sender_fault=sender)
        if kind == "access_denied":
            if operation == GET_HOOK_RESULT:
                message = (
                    "User: arn:aws:sts::123456789012:assumed-role/hook-archiver/session is not authorized to "
                    "perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/"
                    "1234abcd-12ab-34cd-56ef-1234567890ab because no identity-based policy allows the "
                    "kms:Decrypt action"
                )
            else:
                message = (
                    "User: arn:aws:sts::123456789012:assumed-role/hook-archiver/session is not authorized to "
                    f"perform: {actions_of('cloudformation', operation, params)[0]}"
                )
            raise _ApiError(403, "AccessDenied", message)
        if kind == "not_found":
            spec = modeled_error(_operation(GET_HOOK_RESULT), "HookResultNotFound")
            raise _ApiError.from_spec(spec, f"Hook result {params.get('HookResultId', '')} not found")
        if kind == "invalid_token":
            with self._lock:
                # Behave like a real expiry: the token stays dead.
                self._tokens.pop(params.get("NextToken", ""), None)
            raise _ApiError.validation("Invalid NextToken: the pagination token has expired")

    def _dispatch(self, operation: str, params: dict[str, str], fault: Fault | None) -> dict[str, Any]:
        if operation in {"ListTypes", "BatchDescribeTypeConfigurations"}:
            return self._dispatch_registry(operation, params)
        errors = validate_input(_structure(_operation(operation).input_shape), params)
        if errors:
            raise _ApiError.validation(validation_message(errors))
        now = self.clock()
        if operation == LIST_HOOK_RESULTS:
            return self._list_hook_results(params, fault, now)
        return self._get_hook_result(params, now)

    def _visible(self, r: EmulatedHookResult, now: datetime, oldest: datetime) -> bool:
        return (r.visible_from is None or r.visible_from <= now) and r.invoked_at >= oldest

    def _oldest(self, now: datetime) -> datetime:
        return now - timedelta(days=self.retention_days)

    def _get_hook_result(self, params: Mapping[str, str], now: datetime) -> dict[str, Any]:
        hook_result_id = params.get("HookResultId")
        if hook_result_id is None:
            raise _ApiError.validation(
                validation_message(
                    ["Value null at 'hookResultId' failed to satisfy constraint: Member must not be null"]
                )
            )
        with self._lock:
            stored = self._results.get(hook_result_id)
        if stored is None or not self._visible(stored, now, self._oldest(now)):
            spec = modeled_error(_operation(GET_HOOK_RESULT), "HookResultNotFound")
            raise _ApiError.from_spec(spec, f"Hook result {hook_result_id} not found")
        r = stored.at(now)
        result: dict[str, Any] = {
            "HookResultId": r.hook_result_id,
            "InvocationPoint": r.invocation_point,
            "FailureMode": r.failure_mode,
            "TypeName": r.type_name,
            "OriginalTypeName": r.original_type_name,
            "TypeVersionId": r.type_version_id,
            "TypeConfigurationVersionId": r.type_configuration_version_id,
            "TypeArn": r.type_arn,
            "Status": r.status,
            "HookStatusReason": r.hook_status_reason,
            "InvokedAt": r.invoked_at,
            "Target": r.target,
            "Annotations": r.annotations,
        }
        for name in r.omitted_fields:
            result.pop(name, None)
        return result

    def _list_hook_results(
        self, params: Mapping[str, str], fault: Fault | None, now: datetime
    ) -> dict[str, Any]:
        filters = _check_filters(params)
        presented = params.get("NextToken")
        kind = fault.kind if fault is not None else None
        with self._lock:
            if presented is None:
                scan = self._start_scan(filters, now)
                offset = 0
            else:
                entry = self._resolve_token(presented, filters, now)
                scan, offset = entry.scan, entry.offset
            oldest = self._oldest(now)
            if kind == "empty_page_with_token":
                page: list[EmulatedHookResult] = []
                next_offset: int | None = offset
            else:
                end = offset + self._page_size
                # overlapping_pages: the page starts a few items early, repeating the end of the last page
                # (as an offset-paged listing does when newer items push older ones down between calls).
                start = max(0, offset - _DUPLICATED_ITEMS) if kind == "overlapping_pages" else offset
                stored = (self._results.get(i) for i in scan.ids[start:end])
                # Later pages show current state; results removed or aged out since are skipped.
                page = [r for r in stored if r is not None and self._visible(r, now, oldest)]
                next_offset = end if end < len(scan.ids) else None
            if kind == "repeat_token":
                next_token = presented or self._issue(scan, offset, now)
            elif next_offset is not None:
                next_token = self._issue(scan, next_offset, now)
            else:
                next_token = None
        if kind == "duplicate_items":
            page += page[:_DUPLICATED_ITEMS]
        by_target = filters[2] is not None
        summaries = [api_summary(r.at(now), by_target=by_target) for r in page]
        result: dict[str, Any] = {"HookResults": summaries, "NextToken": next_token}
        if by_target:
            result["TargetType"], result["TargetId"] = filters[2], filters[3]
        return result

    def _start_scan(self, filters: _Filters, now: datetime) -> _Scan:
        type_arn, status, target_type, target_id = filters
        oldest = self._oldest(now)
        results = self._results
        ids: list[str] = []
        for i in self._ordered_ids():
            r = results[i]
            if not self._visible(r, now, oldest):
                continue
            if type_arn is not None and r.type_arn != type_arn:
                continue
            if status is not None and r.at(now).status != status:
                continue
            if target_type is not None and (r.target_type != target_type or r.target_id != target_id):
                continue
            ids.append(i)
        self._scans_started += 1
        return _Scan(tuple(ids), filters)

    def _ordered_ids(self) -> tuple[str, ...]:
        order = self._order
        if order == "shuffled":
            # Seeded per scan: stable within a scan, different across scans, same across runs.
            ids = sorted(self._results)
            random.Random(self.seed * 1_000_003 + self._scans_started).shuffle(ids)
            return tuple(ids)
        return self._sorted(order)

    def _sorted(self, order: str) -> tuple[str, ...]:
        cached = self._order_cache.get(order)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        items = sorted(self._results.values(), key=lambda r: r.hook_result_id)
        # Stable sorts layered from the least to the most significant key.
        if order == "oldest_first":
            items.sort(key=lambda r: r.invoked_at)
        else:
            items.sort(key=lambda r: r.invoked_at, reverse=True)
            if order == "grouped_by_hook":
                items.sort(key=lambda r: r.type_name)
        ids = tuple(r.hook_result_id for r in items)
        self._order_cache[order] = (self._version, ids)
        return ids

    def _issue(self, scan: _Scan, offset: int, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _Token(scan, offset, now)
        while len(self._tokens) > _MAX_TOKENS:
            self._tokens.popitem(last=False)
        return token

    def _resolve_token(self, token: str, filters: _Filters, now: datetime) -> _Token:
        entry = self._tokens.get(token)
        if entry is None:
            raise _ApiError.validation("Invalid NextToken: the token is not recognised")
        if self.token_ttl is not None and now - entry.issued_at > self.token_ttl:
            del self._tokens[token]
            raise _ApiError.validation("Invalid NextToken: the pagination token has expired")
        if entry.scan.filters != filters:
            raise _ApiError.validation(
                "Invalid NextToken: the token was issued for a request with different TypeArn, Status, "
                "TargetType or TargetId"
            )
        return entry

    # -- the hook registry: ListTypes and BatchDescribeTypeConfigurations ------------------------------
    # Only hook types, and only the private view (registered here, or public ones activated here): what
    # tells preflight whether a hook is enabled. Both operations are validated against botocore's model.

    def register_hook_type(
        self,
        type_name: str,
        *,
        configuration: str | None = None,
        publisher_id: str | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> str:
        """Put a hook type in the registry and return its TypeArn: registered in this account, or (with the
        publisher's ``publisher_id``) a public one activated here. ``configuration`` is the JSON
        SetTypeConfiguration stored (``None``: never configured)."""
        segment = type_name.replace("::", "-")
        type_arn = f"arn:aws:cloudformation:{region}:{account_id}:type/hook/{segment}"
        configuration_arn = (
            f"arn:aws:cloudformation:{region}:{account_id}:type-configuration/hook/{segment}/default"
        )
        identifier = {"TypeName": type_name, "TypeArn": type_arn, "TypeConfigurationArn": configuration_arn}
        errors = validate_input(self._type_configuration_identifier(), identifier)
        if errors:
            raise ValueError(validation_message(errors))
        if configuration is not None:
            import json  # noqa: PLC0415  # only registrations use it

            json.loads(configuration)  # SetTypeConfiguration accepts JSON only
        activated = publisher_id is not None
        summary: dict[str, Any] = {
            "Type": "HOOK",
            "TypeName": type_name,
            "TypeArn": type_arn,
            "DefaultVersionId": None if activated else "00000001",
            "LastUpdated": self.clock(),
            "Description": f"{type_name} (emulated)",
            "PublisherId": publisher_id,
            "IsActivated": activated,
        }
        types, _ = self._hook_registry()
        with self._lock:
            types[type_arn] = {
                "summary": summary,
                "configuration": configuration,
                "configuration_arn": configuration_arn,
            }
        return type_arn

    def clear_hook_types(self) -> None:
        types, tokens = self._hook_registry()
        with self._lock:
            types.clear()
            tokens.clear()

    def _hook_registry(
        self,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[tuple[str, ...], int, str]]]:
        return self._hook_types, self._hook_type_tokens

    @staticmethod
    def _type_configuration_identifier() -> StructureShape:
        shape = _structure(_operation("BatchDescribeTypeConfigurations").input_shape)
        return _list_member(shape.members["TypeConfigurationIdentifiers"])

    def _dispatch_registry(self, operation: str, params: Mapping[str, str]) -> dict[str, Any]:
        if operation == "ListTypes":
            return self._list_types(params)
        return self._batch_describe_type_configurations(params)

    def _list_types(self, params: Mapping[str, str]) -> dict[str, Any]:
        shape = _structure(_operation("ListTypes").input_shape)
        scalars = {key: value for key, value in params.items() if "." not in key}
        filters = {key.split(".", 1)[1]: value for key, value in params.items() if key.startswith("Filters.")}
        errors = [
            f"Parameter '{key}' is not defined by {shape.name}"
            for key in params
            if "." in key and not key.startswith("Filters.")
        ]
        errors += validate_input(shape, scalars)
        errors += validate_input(_structure(shape.members["Filters"]), filters)
        limit = shape.members["MaxResults"].metadata
        size = int(scalars.get("MaxResults", limit["max"])) if not errors else 0
        if not errors and not limit["min"] <= size <= limit["max"]:
            errors.append(
                f"Value '{size}' at 'maxResults' failed to satisfy constraint: Member must have value "
                f"between {limit['min']} and {limit['max']}"
            )
        if errors:
            raise _ApiError.validation(validation_message(errors))
        request = repr(sorted((k, v) for k, v in params.items() if k not in {"NextToken", "MaxResults"}))
        types, tokens = self._hook_registry()
        with self._lock:
            presented = scalars.get("NextToken")
            if presented is None:
                arns, offset = self._matching_types(types, scalars, filters), 0
            elif presented in tokens and tokens[presented][2] == request:
                arns, offset, _ = tokens[presented]
            else:
                raise _ApiError.validation("Invalid NextToken: the token is not recognised")
            end = offset + size
            page = [types[arn]["summary"] for arn in arns[offset:end] if arn in types]
            token = secrets.token_urlsafe(16) if end < len(arns) else None
            if token is not None:
                tokens[token] = (arns, end, request)
        return {"TypeSummaries": page, "NextToken": token}

    @staticmethod
    def _matching_types(
        types: Mapping[str, dict[str, Any]], scalars: Mapping[str, str], filters: Mapping[str, str]
    ) -> tuple[str, ...]:
        # No public registry here, no resource or module types, nothing deprecated.
        if (
            scalars.get("Visibility", "PRIVATE") != "PRIVATE"
            or scalars.get("Type", "HOOK") != "HOOK"
            or scalars.get("DeprecatedStatus", "LIVE") != "LIVE"
        ):
            return ()
        category = filters.get("Category")
        prefix = filters.get("TypeNamePrefix", "")
        publisher = filters.get("PublisherId")
        chosen = []
        for arn, entry in sorted(types.items(), key=lambda item: str(item[1]["summary"]["TypeName"])):
            summary = entry["summary"]
            activated = bool(summary["IsActivated"])
            if category == "REGISTERED" and activated:
                continue
            if category in {"ACTIVATED", "THIRD_PARTY"} and not activated:
                continue
            if category == "AWS_TYPES":  # documented: AWS_TYPES with PRIVATE visibility lists nothing
                continue
            if not str(summary["TypeName"]).startswith(prefix):
                continue
            if publisher is not None and summary["PublisherId"] != publisher:
                continue
            chosen.append(arn)
        return tuple(chosen)

    def _batch_describe_type_configurations(self, params: Mapping[str, str]) -> dict[str, Any]:
        operation = _operation("BatchDescribeTypeConfigurations")
        member = self._type_configuration_identifier()
        prefix = "TypeConfigurationIdentifiers.member."
        identifiers: dict[int, dict[str, str]] = {}
        errors: list[str] = []
        for key, value in params.items():
            position, _, name = key.removeprefix(prefix).partition(".")
            if not key.startswith(prefix) or not position.isdigit() or int(position) < 1 or not name:
                errors.append(f"Parameter '{key}' is not defined by {_structure(operation.input_shape).name}")
                continue
            identifiers.setdefault(int(position), {})[name] = value
        if not identifiers:
            errors.append(
                "Value null at 'typeConfigurationIdentifiers' failed to satisfy constraint: "
                "Member must not be null"
            )
        for index in sorted(identifiers):
            errors += validate_input(member, identifiers[index])
        if errors:
            raise _ApiError.validation(validation_message(errors))
        details: list[dict[str, Any]] = []
        for index in sorted(identifiers):
            entry = self._configured_type(identifiers[index])
            if entry is None or entry["configuration"] is None:
                spec = modeled_error(operation, "TypeConfigurationNotFoundException")
                named = next(iter(identifiers[index].values()))
                raise _ApiError.from_spec(spec, f"Type configuration not found for {named}")
            details.append(
                {
                    "Arn": entry["configuration_arn"],
                    "Alias": "default",
                    "Configuration": entry["configuration"],
                    "LastUpdated": entry["summary"]["LastUpdated"],
                    "TypeArn": entry["summary"]["TypeArn"],
                    "TypeName": entry["summary"]["TypeName"],
                    "IsDefaultConfiguration": True,
                }
            )
        return {"TypeConfigurations": details}

    def _configured_type(self, identifier: Mapping[str, str]) -> dict[str, Any] | None:
        """The registered type an identifier names (TypeArn, TypeConfigurationArn, or Type and TypeName)."""
        if not {"TypeArn", "TypeConfigurationArn", "TypeName"} & identifier.keys():
            raise _ApiError.validation("Specify TypeArn, TypeConfigurationArn, or Type and TypeName")
        types, _ = self._hook_registry()
        with self._lock:
            for arn, entry in types.items():
                named = {
                    "TypeArn": arn,
                    "TypeConfigurationArn": entry["configuration_arn"],
                    "TypeName": entry["summary"]["TypeName"],
                    "Type": "HOOK",
                    "TypeConfigurationAlias": "default",
                }
                if all(named[key] == value for key, value in identifier.items()):
                    return entry
        return None


def _check_envelope(authorization: str | None, operation: str, version: str | None) -> None:
    if not authorization:
        raise _ApiError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
    if operation not in OPERATIONS:
        raise _ApiError(400, "InvalidAction", f"Could not find operation {operation} for version {version}")
    if version != API_VERSION:
        raise _ApiError(
            400,
            "NoSuchVersion",
            f"The requested version ({version}) of service CloudFormation does not exist",
        )


def _check_filters(params: Mapping[str, str]) -> _Filters:
    """The documented parameter combinations: none, TypeArn, TypeArn+Status, TargetType+TargetId."""
    type_arn = params.get("TypeArn")
    status = params.get("Status")
    target_type = params.get("TargetType")
    target_id = params.get("TargetId")
    if (target_type is None) != (target_id is None):
        raise _ApiError.validation("TargetType and TargetId must be specified together")
    if target_type is not None and (type_arn is not None or status is not None):
        raise _ApiError.validation("TargetType and TargetId cannot be combined with TypeArn or Status")
    if status is not None and type_arn is None:
        raise _ApiError.validation("Status can only be specified together with TypeArn")
    if target_type is not None and target_type not in _FILTER_TARGET_TYPES:
        raise _ApiError.validation(
            f"TargetType {target_type} cannot be used as a filter; use one of {sorted(_FILTER_TARGET_TYPES)}"
        )
    return type_arn, status, target_type, target_id


def api_summary(r: EmulatedHookResult, *, by_target: bool = False) -> dict[str, Any]:
    """The HookResultSummary the API would show for this result (as boto3 hands it over)."""
    summary: dict[str, Any] = {
        "HookResultId": r.hook_result_id,
        "InvocationPoint": r.invocation_point,
        "FailureMode": r.failure_mode,
        "TypeName": r.type_name,
        "TypeVersionId": r.type_version_id,
        "TypeConfigurationVersionId": r.type_configuration_version_id,
        "Status": r.status,
        "HookStatusReason": r.hook_status_reason,
        "TargetType": r.target_type,
        "TargetId": r.target_id,
        "TypeArn": r.type_arn,
    }
    if not by_target:
        # Documented: only shown when the request does not filter by target.
        summary["InvokedAt"] = r.invoked_at
        summary["HookExecutionTarget"] = r.hook_execution_target
    for name in r.omitted_fields:
        summary.pop(name, None)
    return summary


def _check_result(r: EmulatedHookResult, members: _ModelMembers) -> None:
    if len(r.hook_result_id) != _HOOK_RESULT_ID_LENGTH:
        raise ValueError(f"hook_result_id must be a 36-character UUID, got {r.hook_result_id!r}")
    for name in ("invoked_at", "visible_from", "completes_at"):
        value = getattr(r, name)
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"{name} must be timezone-aware")
    if r.completes_at is not None and r.final_status is None:
        raise ValueError("completes_at needs final_status")
    unknown = r.omitted_fields - members.top_level
    if unknown:
        raise ValueError(f"omitted_fields names members the API does not have: {sorted(unknown)}")
    if r.target is not None and not r.target.keys() <= members.target:
        raise ValueError(
            f"target keys {sorted(r.target)} are not all HookTarget members {sorted(members.target)}"
        )
    for annotation in r.annotations:
        if not annotation.keys() <= members.annotation:
            raise ValueError(
                f"annotation keys {sorted(annotation)} are not all Annotation members "
                f"{sorted(members.annotation)}"
            )


class _Server(TlsServerMixin, ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], emulator: HookResultsEmulator
    ) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket, *, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        # Idle keep-alive connections would otherwise hold handler threads after stop().
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    disable_nagle_algorithm = True
    timeout = _IDLE_CONNECTION_TIMEOUT_S
    server: _Server

    def setup(self) -> None:
        handshake(self.request)
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        self.server.track(self.connection, alive=False)
        with contextlib.suppress(OSError):  # the peer may already be gone after a reset
            super().finish()

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.emulator._handle(dict(self.headers), urlsplit(self.path).query, body)
        if reply.reset:
            # Linger 0 turns close() into a TCP RST: the client sees a dropped connection.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("x-amzn-RequestId", reply.request_id)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
