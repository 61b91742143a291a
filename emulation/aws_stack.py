"""The local AWS: moto in server mode (S3, EventBridge, SQS, Glue, STS) plus our ListHookResults emulator,
each on a free loopback port, and the resources the archiver needs. Nothing here is deployed."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from moto.server import ThreadedMotoServer

from emulation.authorization.authorizer import Authorizer
from emulation.fault_proxy import FaultProxy
from emulation.hook_results_api import HookResultsEmulator
from emulation.tls import ca_bundle

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
FAILURE_EVENT_SOURCE = "cfn-hook-archive"
FAILURE_EVENT_DETAIL_TYPE = "CloudFormation Hook Invocation Failed"


@dataclass
class LocalAws:
    moto_url: str
    emulator: HookResultsEmulator
    proxy: FaultProxy
    bucket: str
    bus_name: str
    queue_url: str
    authorizer: Authorizer | None = None
    dead_letter_queue_arn: str = ""

    def reset(self) -> None:
        """Empty moto and the emulator, drop every fault, provision again: a fresh account, fast."""
        _reset_moto(self.moto_url)
        self.emulator.clear()
        self.emulator.clear_faults()
        self.emulator.reset_calls()
        self.emulator.results_kms_key_arn = None
        self.proxy.clear_faults()
        if self.authorizer is not None:
            self.authorizer.verdicts.clear()
        provision(self)

    def client(self, service: str, *, region: str = REGION) -> Any:
        """A client for the test's own use: straight to moto, never through the fault proxy."""
        return loopback_client(
            service, moto_url=self.moto_url, cloudformation_url=self.emulator.endpoint_url, region=region
        )

    def process_environment(self) -> dict[str, str]:
        """Standard boto3 variables that point every client at the emulation (S3 and EventBridge through
        the fault proxy)."""
        environment = {
            **endpoint_environment(aws_url=self.proxy.url, cloudformation_url=self.emulator.endpoint_url),
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if self.proxy.tls or self.emulator.tls:
            environment["AWS_CA_BUNDLE"] = ca_bundle()
        return environment

    def receive_events(self, *, wait_seconds: int = 0, limit: int = 100_000) -> list[dict[str, Any]]:
        """Drain the SQS queue behind the EventBridge rule; return the events' JSON."""
        sqs = self.client("sqs")
        events: list[dict[str, Any]] = []
        while len(events) < limit:
            response = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            )
            messages = response.get("Messages", [])
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)
                ],
            )
        return events


def endpoint_environment(*, aws_url: str, cloudformation_url: str) -> dict[str, str]:
    """The standard boto3 variables that point a process's clients at local servers: ListHookResults and
    GetHookResult to the emulator, everything else to aws_url."""
    return {
        **CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_ENDPOINT_URL_CLOUDFORMATION": cloudformation_url,
    }


def loopback_client(service: str, *, moto_url: str, cloudformation_url: str, region: str = REGION) -> Any:
    """A boto3 client for the local servers: CloudFormation goes to the emulator, the rest to moto."""
    endpoint = cloudformation_url if service == "cloudformation" else moto_url
    return boto3.client(  # type: ignore[call-overload]  # service name chosen at run time
        service,
        endpoint_url=endpoint,
        verify=ca_bundle() if endpoint.startswith("https:") else None,
        region_name=region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def _reset_moto(moto_url: str) -> None:
    # moto keeps its backends per process, not per server: start from an empty account.
    reset = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")  # noqa: S310  # loopback
    urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310  # our own http:// loopback URL


class Provisioned(Protocol):
    """What provision() fills in: LocalAws, or the benchmarks' servers (bench/servers.py)."""

    bucket: str
    bus_name: str
    queue_url: str
    dead_letter_queue_arn: str

    def client(self, service: str) -> Any: ...


def provision(aws: Provisioned, *, route_to_queue: bool = True) -> None:
    """Bucket, bus, and a rule that routes failure events into an SQS queue (what a user would set up).
    Without route_to_queue the rule has no target (the benchmarks: see bench/servers.py)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=aws.bucket)
    s3.put_bucket_versioning(Bucket=aws.bucket, VersioningConfiguration={"Status": "Enabled"})
    events = aws.client("events")
    events.create_event_bus(Name=aws.bus_name)
    sqs = aws.client("sqs")
    aws.queue_url = sqs.create_queue(QueueName=f"{aws.bus_name}-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="hook-failures-to-queue",
        EventBusName=aws.bus_name,
        EventPattern=json.dumps(
            {"source": [FAILURE_EVENT_SOURCE], "detail-type": [FAILURE_EVENT_DETAIL_TYPE]}
        ),
    )
    if route_to_queue:
        events.put_targets(
            Rule="hook-failures-to-queue",
            EventBusName=aws.bus_name,
            Targets=[{"Id": "queue", "Arn": queue_arn}],
        )
    dead_letters = sqs.create_queue(QueueName="archiver-dead-letters")["QueueUrl"]
    aws.dead_letter_queue_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]


@contextmanager
def local_aws(
    *,
    bucket: str = "hook-archive-local",
    bus_name: str = "hook-archive-bus",
    enforce_authorization: bool = True,
    tls: bool = True,
    **emulator_options: Any,
) -> Iterator[LocalAws]:
    """Start moto and the emulator on free loopback ports; stop both on exit, whatever happens.

    With `enforce_authorization` (the default) every call through the proxy and to the emulator is
    authorized as IAM would: the function's role session gets only what its policies allow, while the
    local credentials (`CREDENTIALS`) act as the account's administrator, for setup and inspection. With
    `tls` (the default) the proxy and the emulator serve HTTPS, so `aws:SecureTransport` is the wire's."""
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    # moto's server logs every request through werkzeug: keep the demo and test output readable.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    emulator = HookResultsEmulator(tls=tls, **emulator_options)
    authorizer = (
        Authorizer(admin_access_keys={CREDENTIALS["AWS_ACCESS_KEY_ID"]}) if enforce_authorization else None
    )
    emulator.authorizer = authorizer
    proxy = FaultProxy(f"http://127.0.0.1:{moto.get_host_and_port()[1]}", authorizer=authorizer, tls=tls)
    try:
        host, port = moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        _reset_moto(moto_url)
        emulator.start()
        proxy.start()
        aws = LocalAws(moto_url, emulator, proxy, bucket, bus_name, queue_url="", authorizer=authorizer)
        provision(aws)
        yield aws
    finally:
        proxy.stop()
        emulator.stop()
        moto.stop()
