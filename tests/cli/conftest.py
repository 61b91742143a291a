"""CLI tier: the real `cfn-hook-archive status` and `verify` against moto in server mode (behind the fault
proxy, with authorization enforced) and the ListHookResults emulator, over an archive the real archiver
wrote (emulation/archiver_harness.py). Clients reach them through the standard AWS_ENDPOINT_URL variables.

CloudFormation is one endpoint to a client, but two servers here: the emulator serves ListHookResults and
GetHookResult, moto serves DescribeStacks. A small router on loopback sends each call to the right one by its
Action, so `--stack` is exercised exactly as a deployed stack would be read."""

from __future__ import annotations

import contextlib
import io
import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pyarrow.parquet as pq
import pytest

from emulation.archiver_harness import ARCHIVE_PREFIX, ArchiverHarness
from emulation.aws_stack import CREDENTIALS, REGION, LocalAws, local_aws
from emulation.hook_results_api import EmulatedHookResult
from emulation.synthetic_history import synthetic_history
from emulation.tls import ca_bundle
from hook_archive_cli.__main__ import build_parser, main

STACK = "cfn-hook-archive"


def stack_template(name: str, *, bucket: str, prefix: str) -> str:
    """A stack with the outputs template.yaml declares for the archive (moto cannot run the SAM template)."""
    return json.dumps(
        {
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-queue"}}},
            "Outputs": {
                "ArchiveBucketName": {"Value": bucket},
                "ArchiveLocation": {"Value": f"s3://{bucket}/{prefix}/"},
            },
        }
    )


class _Router(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, moto_url: str, emulator_url: str) -> None:
        super().__init__(("127.0.0.1", 0), _RouteHandler)
        self.moto_url = moto_url
        self.emulator_url = emulator_url
        self.tls = ssl.create_default_context(cafile=ca_bundle())


class _RouteHandler(BaseHTTPRequestHandler):
    server: _Router

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        action = parse_qs(body.decode()).get("Action", [""])[0]
        upstream = self.server.moto_url if action == "DescribeStacks" else self.server.emulator_url
        headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
        request = urllib.request.Request(upstream + self.path, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            response = urllib.request.urlopen(request, context=self.server.tls, timeout=30)  # noqa: S310
        except urllib.error.HTTPError as error:
            response = error
        with response:
            payload = response.read()
            self.send_response(response.status)
            self.send_header("Content-Type", response.headers.get("Content-Type", "text/xml"))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalAws]:
    with local_aws(page_size=25) as aws:
        yield aws


@pytest.fixture(scope="session")
def cloudformation_url(stack: LocalAws) -> Iterator[str]:
    router = _Router(moto_url=stack.moto_url, emulator_url=stack.emulator.endpoint_url)
    thread = threading.Thread(target=router.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{router.server_address[1]}"
    finally:
        router.shutdown()
        router.server_close()


@dataclass(frozen=True)
class CliRun:
    exit_status: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stdout)
        return document


@dataclass
class Operator:
    """An operator's machine: the CLI with the standard AWS variables pointing at the local account, which
    holds an archive bucket the real archiver writes to."""

    aws: LocalAws
    monkeypatch: pytest.MonkeyPatch
    harness: ArchiverHarness
    history: list[EmulatedHookResult] = field(default_factory=list)

    @property
    def location(self) -> list[str]:
        return ["--bucket", self.aws.bucket, "--prefix", ARCHIVE_PREFIX]

    @property
    def history_window(self) -> list[str]:
        """The location and --since the history's first day: verify reads those days only, not 90."""
        first = min((day_of(result) for result in self.history), default=today().isoformat())
        return [*self.location, "--since", first]

    def cli(self, *argv: str, clock: Callable[[], int] | None = None) -> CliRun:
        """`cfn-hook-archive ARGV` in this process; with ``clock``, the command runs at that time."""
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                if clock is None:
                    status = main(list(argv))
                else:
                    args = build_parser().parse_args(list(argv))
                    status = args.run(args, clock=clock)
            except SystemExit as exit_:  # argparse: --help, or arguments it refuses
                status = exit_.code if isinstance(exit_.code, int) else 1
        return CliRun(status, stdout.getvalue(), stderr.getvalue())

    def seed(self, *, days: int = 4, per_day: int = 20, seed: int = 5) -> list[EmulatedHookResult]:
        history = synthetic_history(
            end=datetime.now(UTC) - timedelta(hours=2), days=days, per_day=per_day, seed=seed
        )
        self.aws.emulator.add(*history)
        self.history += history
        return history

    def run_archiver(self, **kwargs: Any) -> dict[str, Any]:
        # The handler logs its run summary to stdout, as in Lambda: keep it out of the CLI's output.
        with contextlib.redirect_stdout(io.StringIO()):
            return self.harness.run(**kwargs)

    def s3(self) -> Any:
        return self.aws.client("s3")

    def object_keys(self) -> list[str]:
        return self.harness.object_keys()

    def ids_in(self, key: str) -> list[str]:
        body = self.s3().get_object(Bucket=self.aws.bucket, Key=key)["Body"].read()
        return [str(value) for value in pq.read_table(io.BytesIO(body)).column("hook_result_id").to_pylist()]

    def terminal_ids(self) -> set[str]:
        now = self.aws.emulator.clock()
        return {
            item.hook_result_id
            for item in (result.at(now) for result in self.aws.emulator.results())
            if item.status != "HOOK_IN_PROGRESS"
        }

    def deploy_stack(self, name: str = STACK, *, prefix: str = ARCHIVE_PREFIX) -> None:
        # The test's own client reaches CloudFormation at the emulator: stacks are moto's.
        _moto_client(self.aws, "cloudformation").create_stack(
            StackName=name,
            TemplateBody=stack_template(name, bucket=self.aws.bucket, prefix=prefix),
        )

    def use_credentials(self, access_key_id: str, secret_access_key: str) -> None:
        self.monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key_id)
        self.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_access_key)
        self.monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    def iam_user(self, name: str, policy: dict[str, Any]) -> tuple[str, str]:
        """A user of this account with only ``policy``; returns its access key."""
        iam = self.aws.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]


def _moto_client(aws: LocalAws, service: str) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client(  # type: ignore[call-overload]  # service chosen at run time
        service,
        endpoint_url=aws.moto_url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def operator(
    stack: LocalAws, cloudformation_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Operator:
    """A fresh account with an empty archive bucket and no hook results; the CLI runs as its administrator."""
    stack.reset()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    environment = {
        **stack.process_environment(),
        "AWS_ENDPOINT_URL_CLOUDFORMATION": cloudformation_url,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Operator(stack, monkeypatch, ArchiverHarness(stack))


@dataclass(frozen=True)
class ArchiveSnapshot:
    """What the real archiver made of a history: every object it left in the bucket (Parquet, checkpoint,
    known ids), to put back in a fresh account instead of running it again for every test."""

    history: list[EmulatedHookResult]
    objects: dict[str, bytes]


@pytest.fixture(scope="session")
def archive_snapshot(stack: LocalAws) -> ArchiveSnapshot:
    stack.reset()
    history = synthetic_history(end=datetime.now(UTC) - timedelta(hours=2), days=4, per_day=20, seed=5)
    stack.emulator.add(*history)
    with contextlib.redirect_stdout(io.StringIO()):
        outcome = ArchiverHarness(stack).run()
    assert outcome["status"] == "complete", outcome
    s3 = stack.client("s3")
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket):
        for item in page.get("Contents", []):
            objects[item["Key"]] = s3.get_object(Bucket=stack.bucket, Key=item["Key"])["Body"].read()
    return ArchiveSnapshot(history, objects)


@pytest.fixture
def archived(archive_snapshot: ArchiveSnapshot, operator: Operator) -> Operator:
    """The operator's account after the archiver's first run over a four-day history, all of it archived."""
    operator.aws.emulator.add(*archive_snapshot.history)
    operator.history = list(archive_snapshot.history)
    s3 = operator.s3()
    for key, body in archive_snapshot.objects.items():
        s3.put_object(Bucket=operator.aws.bucket, Key=key, Body=body)
    return operator


def day_of(result: EmulatedHookResult) -> str:
    return result.invoked_at.astimezone(UTC).date().isoformat()


def today() -> date:
    return datetime.now(UTC).date()
