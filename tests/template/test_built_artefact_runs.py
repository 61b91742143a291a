"""The deployable artefact itself, not the source tree: the handler and the layer from `.aws-sam/build` run
one scheduled invocation in a fresh Python 3.13 process that holds only the role's session credentials,
against the local stack with authorization enforced (every call is checked against template.yaml's role).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulation.archiver_harness import ArchiverHarness
from emulation.aws_stack import CREDENTIALS, LocalAws, local_aws
from tests.integration.conftest import seed_history, terminal_ids
from tests.template.cfn import REPO_ROOT, build_dir

_INVOKE = """
import json, os, sys, time, uuid
sys.path[:0] = [os.environ["FUNCTION_DIR"], os.environ["LAYER_SITE"]]
import hook_archive.handlers.archive_run as handler

class Context:
    function_name = "cfn-hook-archive-ArchiverFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = str(uuid.uuid4())
    log_group_name = "/aws/lambda/cfn-hook-archive-archiver"
    log_stream_name = "local"
    deadline = time.monotonic() + 60
    def get_remaining_time_in_millis(self):
        return int((self.deadline - time.monotonic()) * 1000)

event = json.loads(os.environ["EVENT"])
print(json.dumps({"report": handler.lambda_handler(event, Context()),
                  "handler": handler.__file__, "boto3": __import__("boto3").__file__}))
"""


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with local_aws(page_size=25) as stack:
        yield stack


def test_the_built_artefact_archives_with_only_the_roles_credentials(aws: LocalAws, tmp_path: Path) -> None:
    if sys.version_info[:2] != (3, 13):
        pytest.fail(f"the Lambda runtime is python3.13; this test runs under {sys.version.split()[0]}")
    build = build_dir("x86_64")  # this host is x86_64: the build it can load
    harness = ArchiverHarness(aws, runtime_environment={"POWERTOOLS_METRICS_DISABLED": "true"})
    seed_history(aws, days=2, per_day=30)
    function_environment = harness.environment()
    assert function_environment["AWS_ACCESS_KEY_ID"] != CREDENTIALS["AWS_ACCESS_KEY_ID"]
    assert function_environment["AWS_SESSION_TOKEN"]
    environment = {
        **function_environment,
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "FUNCTION_DIR": str(build / "ArchiverFunction"),
        "LAYER_SITE": str(build / "DependenciesLayer" / "python"),
        "EVENT": (REPO_ROOT / "events" / "scheduled_tick.json").read_text(),
    }
    assert aws.authorizer is not None
    aws.authorizer.verdicts.clear()
    completed = subprocess.run(  # noqa: S603  # this interpreter, our own script
        [sys.executable, "-I", "-S", "-B", "-c", _INVOKE],
        env=environment,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert Path(outcome["handler"]).is_relative_to(build)
    assert Path(outcome["boto3"]).is_relative_to(build)
    assert outcome["report"]["status"] == "complete"
    ids = harness.read_archive().column("hook_result_id").to_pylist()
    assert sorted(ids) == sorted(terminal_ids(aws))
    # Every call it made was authorized as the role's session, and none was refused.
    principals = {verdict.principal_arn for verdict in aws.authorizer.verdicts}
    assert principals == {
        "arn:aws:sts::123456789012:assumed-role/cfn-hook-archive-ArchiverRole/ArchiverFunction"
    }
    operations = {(v.call.service, v.call.operation) for v in aws.authorizer.verdicts}
    assert {("cloudformation", "ListHookResults"), ("s3", "PutObject"), ("events", "PutEvents")} <= operations
    assert all(verdict.allowed and not verdict.denied_items for verdict in aws.authorizer.verdicts)
