"""The failure event: a versioned contract. schemas/hook-failure-event.v1.json is generated from
HookFailureDetail and checked by a test, so the two never drift apart."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DETAIL_TYPE = "CloudFormation Hook Invocation Failed"
# An event states the oldest contract version that describes it (docs/failure-events.md#versions): 1.1
# added the optional `replay` marker, so a live event is still exactly 1.0 and only a replayed one is 1.1.
SchemaVersion = Literal["1.0", "1.1"]
SCHEMA_VERSION: SchemaVersion = "1.0"
REPLAY_SCHEMA_VERSION: SchemaVersion = "1.1"

EnrichmentStatus = Literal["enriched", "disabled", "skipped_run_limit", "unavailable"]


class Annotation(BaseModel):
    """One GetHookResult annotation: a rule the hook evaluated."""

    model_config = ConfigDict(extra="forbid")

    annotation_name: str | None = None
    status: str | None = None
    status_message: str | None = None
    remediation_message: str | None = None
    remediation_link: str | None = None
    severity_level: str | None = None


class HookTarget(BaseModel):
    """What the hook was invoked against, from GetHookResult."""

    model_config = ConfigDict(extra="forbid")

    target_type: str | None = None
    target_type_name: str | None = None
    target_id: str | None = None
    action: str | None = None


class Enrichment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: EnrichmentStatus
    error_code: str | None = Field(
        default=None, description="Why GetHookResult gave nothing, when it did not."
    )
    original_type_name: str | None = None
    target: HookTarget | None = None
    annotations: list[Annotation] = Field(default_factory=list)


class Replay(BaseModel):
    """Marks an event re-sent from the archive (`cfn-hook-archive replay`); live events have no `replay`."""

    model_config = ConfigDict(extra="forbid")

    replayed_at: str = Field(description="When the replay sent it: ISO 8601 UTC, millisecond precision.")
    reason: str = Field(description="Why it was sent again, e.g. cfn-hook-archive replay.")


class HookFailureDetail(BaseModel):
    """`detail` of a "CloudFormation Hook Invocation Failed" event. Consumers drop repeats by hook_result_id:
    delivery is at least once."""

    model_config = ConfigDict(
        extra="forbid",
        title="HookFailureDetail",
        # The JSON Schema's half of _replay_needs_its_version: an event with `replay` is 1.1.
        json_schema_extra={
            "dependentSchemas": {
                "replay": {"properties": {"schema_version": {"const": REPLAY_SCHEMA_VERSION}}}
            }
        },
    )

    schema_version: SchemaVersion = Field(
        default=SCHEMA_VERSION,
        description="1.0 for live events; 1.1 for replayed ones, which carry `replay`.",
    )
    hook_result_id: str = Field(description="Stable id of the invocation; use it to drop repeated events.")
    status: str
    failure_mode: str | None = None
    hook_status_reason: str | None = None
    type_name: str | None = None
    type_arn: str | None = None
    type_version_id: str | None = None
    type_configuration_version_id: str | None = None
    invocation_point: str | None = None
    invoked_at: str | None = Field(default=None, description="ISO 8601 UTC, millisecond precision.")
    target_type: str | None = None
    target_id: str | None = None
    hook_execution_target: str | None = None
    account_id: str
    region: str
    archive_uri: str = Field(description="s3:// URI of the Parquet object that holds this invocation's row.")
    archived_at: str
    enrichment: Enrichment
    truncated_fields: list[str] = Field(
        default_factory=list,
        description="Fields shortened (or annotations dropped) to fit PutEvents' 256 KB.",
    )
    replay: Replay | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent, not null, from live events: they stay 1.0
        description="Present only on an event re-sent from the archive; the same hook_result_id was sent "
        "before, so consumers that drop repeats by it see nothing new.",
    )

    @model_validator(mode="after")
    def _replay_needs_its_version(self) -> HookFailureDetail:
        if (self.replay is not None) != (self.schema_version == REPLAY_SCHEMA_VERSION):
            raise ValueError(f"replay is set exactly when schema_version is {REPLAY_SCHEMA_VERSION}")
        return self

    def replayed(self, replay: Replay) -> HookFailureDetail:
        """This detail as a replay sends it: version 1.1 with the marker."""
        return HookFailureDetail.model_validate(
            {
                **self.model_dump(),
                "schema_version": REPLAY_SCHEMA_VERSION,
                "replay": replay.model_dump(),
            }
        )


def detail_json_schema() -> dict[str, object]:
    schema = HookFailureDetail.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/cfn-hook-archive/cfn-hook-archive/schemas/hook-failure-event.v1.json"
    return schema
