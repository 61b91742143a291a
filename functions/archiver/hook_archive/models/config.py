"""Archiver configuration: one typed model, parsed from the environment once, at cold start."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hook_archive.errors import ConfigError

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,512}$")
_EVENT_BUS = re.compile(r"^(arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:event-bus/)?[A-Za-z0-9/._-]{1,256}$")
_MAX_SOURCE_LENGTH = 256
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")

# Which run counters are published as CloudWatch metrics (logic/run_metrics.py): all, or only what the
# stack's alarm reads. Each is a billed custom metric; all of them stay in the run's summary log line.
MetricsLevel = Literal["all", "essential"]

# Environment variable name -> field name. The variable names are the public contract of template.yaml.
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "AWS_REGION": "region",
    "ARCHIVE_BUCKET": "archive_bucket",
    "ARCHIVE_PREFIX": "archive_prefix",
    "EVENT_BUS_NAME": "event_bus_name",
    "EVENT_SOURCE": "event_source",
    "LATE_ARRIVAL_WINDOW_SECONDS": "late_arrival_window_seconds",
    "IN_PROGRESS_TIMEOUT_SECONDS": "in_progress_timeout_seconds",
    "TIME_SAFETY_MARGIN_SECONDS": "time_safety_margin_seconds",
    "ENRICH_FAILURES": "enrich_failures",
    "MAX_ENRICHMENTS_PER_RUN": "max_enrichments_per_run",
    "MAX_ANNOTATIONS_DUE": "max_annotations_due",
    "ANNOTATION_FETCH_ATTEMPTS": "annotation_fetch_attempts",
    "MAX_PAGES_PER_RUN": "max_pages_per_run",
    "MAX_EVENT_OUTBOX": "max_event_outbox",
    "MAX_EVENTS_PER_RUN": "max_events_per_run",
    "API_RETRY_MODE": "api_retry_mode",
    "API_MAX_ATTEMPTS": "api_max_attempts",
    "API_READ_TIMEOUT_SECONDS": "api_read_timeout_seconds",
    "SPOOL_ROWS_PER_ROW_GROUP": "spool_rows_per_row_group",
    "METRICS_LEVEL": "metrics_level",
    "AUDIT_INTERVAL_HOURS": "audit_interval_hours",
}


class ArchiverConfig(BaseModel):
    """What one deployment of the archiver is told by its environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    archive_bucket: str
    archive_prefix: str = "hook-results"
    event_bus_name: str = "default"
    event_source: str = "cfn-hook-archive"
    # How late, relative to the newest result seen, a result may still appear in ListHookResults.
    late_arrival_window_seconds: int = Field(default=900, ge=0, le=7 * 86400)
    # An invocation still HOOK_IN_PROGRESS this long after InvokedAt is archived as it stands.
    in_progress_timeout_seconds: int = Field(default=7200, ge=60, le=89 * 86400)
    # Paging stops this long before the Lambda deadline, leaving time to write, publish and commit.
    time_safety_margin_seconds: float = Field(default=60.0, ge=0.0, le=600.0)
    enrich_failures: bool = True
    max_enrichments_per_run: int = Field(
        default=500,
        ge=0,
        le=10_000,
        description="GetHookResult calls a run makes: its own failures first, then the catch-up list of "
        "earlier runs' failures (oldest first), so that in steady state every failure's annotations are "
        "archived. 500 calls take about 26 s at 50 ms a call (a ninth of a run's 240 s paging budget) and "
        "drain a 10,000-failure burst in 20 runs (100 minutes at the default schedule): docs/design.md, "
        "'Enrichment coverage'.",
    )
    # The catch-up list (Checkpoint.annotations_due, logic/annotation_catch_up.py): failures whose annotations
    # a later run fetches. Every entry is checkpoint JSON, read and written whole each run: 160 bytes with a
    # typical type name, 329 with the longest (196 characters). At the ceiling of 100,000 that is 16-33 MB,
    # serialized in about 0.1 s and parsed in about 0.5 s at some 180 MB of peak memory (measured), inside the
    # function's 1,024 MB and its run; more would make every run's checkpoint reads and writes the cost of
    # the run. 0 keeps no list: a failure not enriched in its own run is counted as lost ("overflow").
    max_annotations_due: int = Field(
        default=10_000,
        ge=0,
        le=100_000,
        description="The catch-up list's length; past it, a run's newest deferred failures are counted "
        "and logged as lost, and those already waiting stay. The default holds one run's event budget "
        "(MAX_EVENTS_PER_RUN) in 1.6 MB of checkpoint.",
    )
    # GetHookResult calls that may fail for a passing reason (Throttling, 5xx, a timeout) before the list
    # gives up on a failure's annotations; each run asks at most once per failure.
    annotation_fetch_attempts: int = Field(default=5, ge=1, le=50)
    max_pages_per_run: int = Field(default=200_000, ge=1)
    max_event_outbox: int = Field(default=20_000, ge=0, le=100_000)
    # Paging stops once a run has this many failures to announce, so publishing fits in the run too.
    max_events_per_run: int = Field(default=10_000, ge=10, le=100_000)
    api_retry_mode: Literal["standard", "adaptive"] = "adaptive"
    api_max_attempts: int = Field(default=10, ge=1, le=50)
    # A hung call is abandoned (and retried by botocore) after this long, not after botocore's 60 s.
    api_read_timeout_seconds: float = Field(default=20.0, gt=0.0, le=300.0)
    spool_rows_per_row_group: int = Field(default=50_000, ge=100, le=1_000_000)
    # A single account keeps every metric (its dashboard charts them); an Organization's members publish
    # the essential one, and fleet health watches them centrally.
    metrics_level: MetricsLevel = "all"
    # The self-audit (logic/audit.py): every this many hours a run also pages the whole listing and archives
    # what the archive lacks (a result that appeared after the late-arrival window). 0 turns it off.
    audit_interval_hours: int = Field(default=24, ge=0, le=90 * 24)

    @model_validator(mode="after")
    def _outbox_holds_a_run(self) -> ArchiverConfig:
        if self.max_events_per_run > self.max_event_outbox:
            raise ValueError(
                "MAX_EVENTS_PER_RUN must not exceed MAX_EVENT_OUTBOX (deferred events wait there)"
            )
        return self

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError("must be an AWS region name such as us-east-1")
        return value

    @field_validator("archive_bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET_NAME.match(value) or ".." in value:
            raise ValueError("must be a valid S3 bucket name")
        return value

    @field_validator("archive_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value) or value.startswith("/") or value.endswith("/") or "//" in value:
            raise ValueError("must be an S3 key prefix without leading or trailing '/', e.g. hook-results")
        return value

    @field_validator("event_bus_name")
    @classmethod
    def _bus(cls, value: str) -> str:
        if not _EVENT_BUS.match(value):
            raise ValueError("must be an EventBridge bus name or ARN")
        return value

    @field_validator("event_source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value.startswith("aws.") or not 1 <= len(value) <= _MAX_SOURCE_LENGTH:
            raise ValueError("must be 1-256 characters and must not start with 'aws.' (reserved by AWS)")
        return value

    @property
    def event_bus_region(self) -> str:
        """The region of the bus: an ARN's (a central bus elsewhere), else the function's own."""
        if self.event_bus_name.startswith("arn:"):
            return self.event_bus_name.split(":", 4)[3]
        return self.region

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ArchiverConfig:
        """Parse the environment; a bad or missing variable raises ConfigError naming it."""
        values = {field: environ[name] for name, field in ENVIRONMENT_VARIABLES.items() if name in environ}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            by_field = {field: name for name, field in ENVIRONMENT_VARIABLES.items()}
            problems = []
            for detail in error.errors():
                field = str(detail["loc"][0]) if detail["loc"] else "configuration"
                variable = by_field.get(field, field)
                shown = environ.get(variable)
                problems.append(
                    f"{variable}: {detail['msg']}" + (f" (got {shown!r})" if shown is not None else "")
                )
            raise ConfigError("invalid archiver configuration: " + "; ".join(problems)) from None
