"""What the Lambda service itself does with the function's execution role around an invocation, so that the
role's statements for it are exercised as in AWS:

- it writes the platform's log lines to the function's log group (logs:CreateLogStream, logs:PutLogEvents);
- with active tracing, it sends the invocation's trace segment to X-Ray (`xray:PutTraceSegments`);
- for an asynchronous invocation that failed, it sends the record to the on-failure destination
  (`sqs:SendMessage`; https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html:
  "Your function's execution role needs permission to send records to the destination").

AWS does none of this loudly: a refused log delivery or destination record is lost, and the invocation's
outcome does not change. So each is recorded here as a `Delivery`, for tests to read, and never raised.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError


@dataclass(frozen=True)
class Delivery:
    what: str  # "logs", "trace" or "destination"
    delivered: bool
    error_code: str | None = None


@dataclass
class LambdaService:
    environment: Mapping[str, str]  # the function's: region, endpoints and the role session
    function_name: str
    log_group: str
    on_failure_destination: str | None  # an SQS queue ARN
    tracing: bool
    deliveries: list[Delivery] = field(default_factory=list)

    @contextmanager
    def invocation(self, event: Mapping[str, Any]) -> Iterator[None]:
        """Around one invocation: afterwards, whatever happened in it, what the service does with the role.
        A process that dies (a BaseException, like a simulated crash) is not an error record."""
        started = time.monotonic()
        error: BaseException | None = None
        try:
            yield
        except Exception as failure:
            error = failure
            raise
        finally:
            self.after_invocation(
                request_id=str(uuid.uuid4()),
                event=event,
                error=error,
                duration_ms=(time.monotonic() - started) * 1000,
            )

    def after_invocation(
        self, *, request_id: str, event: Mapping[str, Any], error: BaseException | None, duration_ms: float
    ) -> None:
        self._deliver("logs", lambda: self._put_logs(request_id, duration_ms))
        if self.tracing:
            self._deliver("trace", lambda: self._put_trace(request_id, duration_ms, error))
        if error is not None and self.on_failure_destination:
            destination = self.on_failure_destination
            self._deliver("destination", lambda: self._send_record(destination, request_id, event, error))

    def _deliver(self, what: str, send: Any) -> None:
        try:
            send()
        except ClientError as failure:
            code = failure.response.get("Error", {}).get("Code")
            self.deliveries.append(Delivery(what, delivered=False, error_code=code))
            return
        self.deliveries.append(Delivery(what, delivered=True))

    def _client(self, service: str) -> Any:
        env = self.environment
        endpoint = env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL")
        return boto3.client(  # type: ignore[call-overload]  # service name chosen at run time
            service,
            region_name=env["AWS_REGION"],
            endpoint_url=endpoint,
            verify=env.get("AWS_CA_BUNDLE"),
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
        )

    def _put_logs(self, request_id: str, duration_ms: float) -> None:
        logs = self._client("logs")
        stream = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        logs.create_log_stream(logGroupName=self.log_group, logStreamName=stream)
        now = int(time.time() * 1000)
        lines = [
            f"START RequestId: {request_id} Version: $LATEST",
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms",
        ]
        logs.put_log_events(
            logGroupName=self.log_group,
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": line} for line in lines],
        )

    def _put_trace(self, request_id: str, duration_ms: float, error: BaseException | None) -> None:
        start = time.time() - duration_ms / 1000
        segment = {
            "name": self.function_name,
            "id": secrets.token_hex(8),
            "trace_id": f"1-{int(start):08x}-{secrets.token_hex(12)}",
            "start_time": start,
            "end_time": time.time(),
            "fault": error is not None,
            "annotations": {"request_id": request_id},
        }
        self._client("xray").put_trace_segments(TraceSegmentDocuments=[json.dumps(segment)])

    def _send_record(
        self, queue_arn: str, request_id: str, event: Mapping[str, Any], error: BaseException
    ) -> None:
        _, _, _, region, account, name = queue_arn.split(":", 5)
        queue_url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": request_id,
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": dict(event),
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        self._client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))
