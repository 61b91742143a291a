"""Fleet-health configuration: one typed model, parsed from the environment once, at cold start."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fleet_health.errors import ConfigError

# The archiver's own rules for the same two values (hook_archive/models/config.py); the deployables share no
# code, so they are repeated here and tests/unit/test_fleet_health_config.py checks both accept the same.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,512}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9 .\-_/#:]{1,255}$")

# Environment variable name -> field name: the contract with the (future) central template.
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "ARCHIVE_BUCKET": "archive_bucket",
    "ARCHIVE_PREFIX": "archive_prefix",
    "STALE_AFTER_HOURS": "stale_after_hours",
    # Read by Powertools itself; checked here so a missing one fails the cold start, not the metrics flush.
    "POWERTOOLS_METRICS_NAMESPACE": "metrics_namespace",
    # Powertools' `service` dimension: the fleet stack's name, as the archiver's template sets it.
    "POWERTOOLS_SERVICE_NAME": "service_name",
}


class FleetHealthConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    archive_bucket: str
    archive_prefix: str = "hook-results"
    # An archiver runs every few minutes; a few hours without a commit means it has stopped.
    stale_after_hours: float = Field(default=3.0, gt=0.0, le=24.0 * 90)
    metrics_namespace: str
    service_name: str = Field(min_length=1, max_length=255)

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

    @field_validator("metrics_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _NAMESPACE.match(value) or value.startswith("AWS/"):
            raise ValueError("must be a CloudWatch namespace (1-255 characters, not starting with 'AWS/')")
        return value

    @property
    def stale_after_ms(self) -> int:
        return int(self.stale_after_hours * 3_600_000)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FleetHealthConfig:
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
            raise ConfigError("invalid fleet-health configuration: " + "; ".join(problems)) from None
