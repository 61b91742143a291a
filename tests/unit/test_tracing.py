"""X-Ray tracing still records AWS calls with the dependencies as pinned (wrapt 1.x, chosen for the cold
start: the X-Ray SDK patches botocore through wrapt)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Run apart: patching botocore and enabling the X-Ray recorder are process-wide.
SCRIPT = r"""
import json, os
from aws_lambda_powertools import Tracer
tracer = Tracer(service="cfn-hook-archive", patch_modules=("botocore",))  # as the handler creates it
import boto3
from aws_xray_sdk.core import xray_recorder
sent = []
xray_recorder.emitter.send_entity = lambda entity: sent.append(entity.to_dict())

@tracer.capture_method
def list_buckets():
    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", config=boto3.session.Config(
        retries={"max_attempts": 1}, connect_timeout=1))
    try:
        client.list_buckets()
    except Exception as error:
        return type(error).__name__

error = list_buckets()
import sys
print(json.dumps({"error": error, "entities": sent, "asyncio_imported": "asyncio" in sys.modules}))
"""


def test_tracer_records_a_subsegment_for_each_aws_call_without_importing_asyncio() -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))
    }
    environment.update(
        {
            # What Lambda sets when the function's tracing is Active and the invocation is sampled.
            "AWS_LAMBDA_FUNCTION_NAME": "ArchiverFunction",
            "LAMBDA_TASK_ROOT": os.getcwd(),
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SCRIPT],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["error"] == "EndpointConnectionError"
    aws_calls = [entity for entity in report["entities"] if entity.get("namespace") == "aws"]
    assert [(call["name"], call["aws"]["operation"]) for call in aws_calls] == [("s3", "ListBuckets")]
    assert any(entity["name"].endswith("list_buckets") for entity in report["entities"])
    # Why wrapt is pinned: 2.x imports asyncio at import time (~9 ms of every cold start).
    assert report["asyncio_imported"] is False
