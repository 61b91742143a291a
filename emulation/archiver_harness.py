"""Runs the real archiver handler against the local AWS and reads back what it produced."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from emulation.aws_stack import ACCOUNT_ID, REGION, LocalAws
from emulation.lambda_runtime import (
    FunctionSpec,
    environment_variables,
    function_spec,
    invoke,
    load_event,
    resolved_environment,
)

ARCHIVE_PREFIX = "hook-results"


@dataclass
class ArchiverHarness:
    aws: LocalAws
    settings: dict[str, str] = field(default_factory=dict)  # values of variables template.yaml declares
    runtime_environment: dict[str, str] = field(
        default_factory=dict
    )  # others, e.g. set by the Lambda runtime
    event_name: str = "scheduled_tick.json"
    spec: FunctionSpec = field(default_factory=function_spec)

    def environment(self) -> dict[str, str]:
        values = {
            "ARCHIVE_BUCKET": self.aws.bucket,
            "ARCHIVE_PREFIX": ARCHIVE_PREFIX,
            "EVENT_BUS_NAME": self.aws.bus_name,
            "EVENT_SOURCE": "cfn-hook-archive",
            "TIME_SAFETY_MARGIN_SECONDS": "1",
            **self.settings,
        }
        return {
            **resolved_environment(self.spec, values),
            **self.aws.process_environment(),
            **self.runtime_environment,
        }

    def run(self, *, timeout_seconds: float | None = None, **handler_kwargs: Any) -> dict[str, Any]:
        """One scheduled invocation of the handler named in template.yaml, with a cold start."""
        result = invoke(
            self.spec,
            load_event(self.event_name),
            environment=self.environment(),
            account_id=ACCOUNT_ID,
            timeout_seconds=timeout_seconds,
            **handler_kwargs,
        )
        if not isinstance(result, dict):
            raise TypeError(f"handler returned {type(result).__name__}")
        return result

    def real_dependencies(self) -> Any:
        """The adapters the handler would build, made under this harness's environment (to wrap in tests)."""
        with environment_variables(self.environment()):
            from hook_archive.dal.aws_dependencies import AwsClients, build_dependencies  # noqa: PLC0415
            from hook_archive.models.config import ArchiverConfig  # noqa: PLC0415

            config = ArchiverConfig.from_environ(os.environ)
            return build_dependencies(config, AwsClients.create(config), account_id=ACCOUNT_ID)

    def object_keys(self) -> list[str]:
        s3 = self.aws.client("s3")
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.aws.bucket, Prefix=f"{ARCHIVE_PREFIX}/dt="
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def read_archive(self) -> pa.Table:
        """Every archive object, with the Hive partition column dt taken from its key."""
        s3 = self.aws.client("s3")
        tables = []
        for key in self.object_keys():
            body = s3.get_object(Bucket=self.aws.bucket, Key=key)["Body"].read()
            table = pq.read_table(io.BytesIO(body))
            day = key.split("/dt=", 1)[1].split("/", 1)[0]
            table = table.append_column("dt", pa.array([day] * table.num_rows, pa.string()))
            table = table.append_column("object_key", pa.array([key] * table.num_rows, pa.string()))
            tables.append(table)
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables)

    def download_archive(self, directory: str) -> int:
        """Copy the archive to a local folder with the same keys (for DuckDB); return the object count."""
        s3 = self.aws.client("s3")
        keys = self.object_keys()
        for key in keys:
            target = Path(directory) / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=self.aws.bucket, Key=key)["Body"].read())
        return len(keys)

    def checkpoint(self) -> Mapping[str, Any]:
        s3 = self.aws.client("s3")
        key = f"{ARCHIVE_PREFIX}/_state/{ACCOUNT_ID}/{REGION}/checkpoint.json"
        return dict(json.loads(s3.get_object(Bucket=self.aws.bucket, Key=key)["Body"].read()))
