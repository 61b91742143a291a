"""Curator configuration: one typed model, parsed from the environment once, at cold start."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curator.errors import ConfigError

# The archiver's rules for the bucket and prefix (hook_archive/models/config.py), repeated: the deployables
# share no code.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,512}$")
_GLUE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9 .\-_/#:]{1,255}$")
_REGION = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$")  # the template's ArchiveBucketRegion pattern
_LOCATION = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()=-]+)+$")
# A Lambda run lasts 15 minutes at most: files younger than that may belong to a commit in flight.
MIN_ORPHAN_GRACE_HOURS = 0.5

# Environment variable name -> field name: the contract with the template.
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "ARCHIVE_BUCKET": "archive_bucket",
    "ARCHIVE_PREFIX": "archive_prefix",
    "ARCHIVE_BUCKET_REGION": "archive_bucket_region",
    "GLUE_DATABASE": "glue_database",
    "CURATED_TABLE": "curated_table",
    "CURATED_LOCATION": "curated_location",
    "CURATED_ANNOTATIONS_TABLE": "curated_annotations_table",
    "CURATED_ANNOTATIONS_LOCATION": "curated_annotations_location",
    "LOOKBACK_DAYS": "lookback_days",
    "MAX_OBJECTS_PER_COMMIT": "max_objects_per_commit",
    "CLOSE_AFTER_HOURS": "close_after_hours",
    "OPEN_DAY_MAX_FILES": "open_day_max_files",
    "TARGET_FILE_MB": "target_file_mb",
    "SNAPSHOT_RETENTION_HOURS": "snapshot_retention_hours",
    "ORPHAN_GRACE_HOURS": "orphan_grace_hours",
    "MAINTENANCE_INTERVAL_MINUTES": "maintenance_interval_minutes",
    "AWS_REGION": "region",
    # Local emulation only: pyiceberg's Glue client and its S3 file IO are pointed here.
    "AWS_ENDPOINT_URL": "endpoint_url",
    "POWERTOOLS_METRICS_NAMESPACE": "metrics_namespace",
    "POWERTOOLS_SERVICE_NAME": "service_name",
}


class CuratorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    archive_bucket: str
    archive_prefix: str = "hook-results"
    # The bucket's region when it is not the function's (a central archive elsewhere). boto3 follows S3's
    # redirect to another region; pyarrow's S3 filesystem (pyiceberg's file IO) does not, and signs for
    # the region it is given: without this it fails on the first curated file.
    archive_bucket_region: str | None = None
    glue_database: str
    curated_table: str = "hook_results"
    curated_location: str | None = None  # default: s3://<archive_bucket>/curated/<curated_table>
    curated_annotations_table: str = "hook_annotations"
    # default: s3://<archive_bucket>/curated/<curated_annotations_table>
    curated_annotations_location: str | None = None
    lookback_days: int = Field(default=2, ge=0, le=90)
    max_objects_per_commit: int = Field(default=5000, ge=1, le=100_000)
    close_after_hours: float = Field(default=3.0, ge=0.0, le=24.0 * 7)
    # An open day (today, or yesterday before it closes) is compacted once it holds more data files than
    # this: 12 at the 5-minute schedule is about hourly. 0 compacts a day only once closed.
    open_day_max_files: int = Field(default=12, ge=0, le=10_000)
    target_file_mb: int = Field(default=128, ge=1, le=4096)
    snapshot_retention_hours: float = Field(default=24.0, ge=0.5, le=24.0 * 90)
    orphan_grace_hours: float = Field(default=24.0, ge=MIN_ORPHAN_GRACE_HOURS, le=24.0 * 90)
    # Snapshot expiry and orphan removal at most this often (0: every scheduled run). At most a day: the
    # snapshots and files they remove keep accumulating until then.
    maintenance_interval_minutes: int = Field(default=60, ge=0, le=24 * 60)
    region: str = Field(min_length=1)
    endpoint_url: str | None = None
    metrics_namespace: str
    service_name: str = Field(min_length=1, max_length=255)

    @field_validator("archive_bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET_NAME.match(value) or ".." in value:
            raise ValueError("must be a valid S3 bucket name")
        return value

    @field_validator("archive_bucket_region")
    @classmethod
    def _bucket_region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            raise ValueError("must be an AWS region name such as eu-west-1")
        return value

    @field_validator("archive_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value) or value.startswith("/") or value.endswith("/") or "//" in value:
            raise ValueError("must be an S3 key prefix without leading or trailing '/', e.g. hook-results")
        return value

    @field_validator("glue_database", "curated_table", "curated_annotations_table")
    @classmethod
    def _glue_name(cls, value: str) -> str:
        if not _GLUE_NAME.match(value):
            raise ValueError("must be a Glue name: lower-case letters, digits and '_'")
        return value

    @field_validator("curated_location", "curated_annotations_location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        if value is not None and not _LOCATION.match(value.rstrip("/")):
            raise ValueError("must be an s3://bucket/prefix URI")
        return value.rstrip("/") if value else value

    @field_validator("metrics_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _NAMESPACE.match(value) or value.startswith("AWS/"):
            raise ValueError("must be a CloudWatch namespace (1-255 characters, not starting with 'AWS/')")
        return value

    @model_validator(mode="after")
    def _apart(self) -> CuratorConfig:
        # The raw tables' partition projections read everything under <prefix>/dt=... and
        # <prefix>/annotations/dt=...: the curated files must never land there, and the curator must never
        # list its own files as raw objects. Each table removes the files under its location that it does
        # not reference (orphans): two tables must not share a location, or contain one another.
        raw = f"s3://{self.archive_bucket}/{self.archive_prefix}/"
        for variable, location in (
            ("CURATED_LOCATION", self.table_location),
            ("CURATED_ANNOTATIONS_LOCATION", self.annotations_table_location),
        ):
            if f"{location}/".startswith(raw):
                raise ValueError(f"{variable} must be outside {raw}")
        if self.curated_table == self.curated_annotations_table:
            raise ValueError("CURATED_TABLE and CURATED_ANNOTATIONS_TABLE must be two tables")
        results, annotations = f"{self.table_location}/", f"{self.annotations_table_location}/"
        if results.startswith(annotations) or annotations.startswith(results):
            raise ValueError(
                "CURATED_LOCATION and CURATED_ANNOTATIONS_LOCATION must not contain one another: each "
                "table deletes the files under its location that it does not reference"
            )
        return self

    @property
    def table_location(self) -> str:
        return self.curated_location or f"s3://{self.archive_bucket}/curated/{self.curated_table}"

    @property
    def annotations_table_location(self) -> str:
        return self.curated_annotations_location or (
            f"s3://{self.archive_bucket}/curated/{self.curated_annotations_table}"
        )

    @property
    def bucket_region(self) -> str:
        """The region S3 calls are signed for: the archive bucket's (and the curated table's, which the
        template puts in the same bucket)."""
        return self.archive_bucket_region or self.region

    @property
    def target_file_bytes(self) -> int:
        return self.target_file_mb * 1024 * 1024

    def catalog_properties(self) -> dict[str, str]:
        properties = {"glue.region": self.region, "s3.region": self.bucket_region}
        if self.endpoint_url:
            properties |= {"glue.endpoint": self.endpoint_url, "s3.endpoint": self.endpoint_url}
        return properties

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CuratorConfig:
        """Parse the environment; a bad or missing variable raises ConfigError naming it."""
        values = {field: environ[name] for name, field in ENVIRONMENT_VARIABLES.items() if name in environ}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            by_field = {field: name for name, field in ENVIRONMENT_VARIABLES.items()}
            problems = []
            for detail in error.errors():
                if not detail["loc"]:  # a rule across variables: its message names them
                    problems.append(str(detail["msg"]).removeprefix("Value error, "))
                    continue
                variable = by_field.get(str(detail["loc"][0]), str(detail["loc"][0]))
                shown = environ.get(variable)
                problems.append(
                    f"{variable}: {detail['msg']}" + (f" (got {shown!r})" if shown is not None else "")
                )
            raise ConfigError("invalid curator configuration: " + "; ".join(problems)) from None
