"""What an HTTP request to an AWS endpoint asks for: service, operation, parameters and caller, read off the
wire the way the service would (SigV4 scope, S3's REST paths, X-Amz-Target, query-protocol forms)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.etree import ElementTree

_CREDENTIAL = re.compile(r"Credential=([^/\s,]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
# S3 bucket sub-resources whose GET/PUT/DELETE the table can name; anything else is reported unmapped.
_BUCKET_SUBRESOURCES = {
    "versioning": "BucketVersioning",
    "encryption": "BucketEncryption",
    "policy": "BucketPolicy",
    "location": "BucketLocation",
    "ownershipControls": "BucketOwnershipControls",
    "lifecycle": "BucketLifecycleConfiguration",
    "object-lock": "ObjectLockConfiguration",
}
# An object's subresources are operations of their own (and IAM actions of their own), never Get/PutObject.
_OBJECT_SUBRESOURCES = {
    "retention": "ObjectRetention",
    "legal-hold": "ObjectLegalHold",
    "tagging": "ObjectTagging",
    "acl": "ObjectAcl",
}


# REST-JSON services the product's role reaches: operation by path.
_REST_JSON_OPERATIONS = {
    "xray": {"/TraceSegments": "PutTraceSegments", "/TelemetryRecords": "PutTelemetryRecords"},
}


class MalformedRequest(ValueError):
    """The request carries no SigV4 signature this emulation can read."""


@dataclass(frozen=True)
class ApiCall:
    service: str  # the SigV4 signing name: s3, events, cloudformation, sqs, logs, sts, ...
    operation: str
    region: str
    access_key_id: str
    session_token: str | None
    params: dict[str, Any] = field(default_factory=dict)
    secure_transport: bool = False

    @property
    def json_protocol(self) -> bool:
        return self.service not in {"s3", "cloudformation", "sts"}


def signature_scope(headers: Mapping[str, str]) -> tuple[str, str, str]:
    """(access key id, region, service) from the Authorization header."""
    authorization = _header(headers, "Authorization") or ""
    match = _CREDENTIAL.search(authorization)
    if match is None:
        raise MalformedRequest("the request is not signed with SigV4 (no Authorization header credential)")
    access_key_id, region, service = match.groups()
    return access_key_id, region, service


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def parse_request(
    method: str, path: str, headers: Mapping[str, str], body: bytes, *, secure_transport: bool = False
) -> ApiCall:
    access_key_id, region, service = signature_scope(headers)
    token = _header(headers, "X-Amz-Security-Token")
    target = _header(headers, "X-Amz-Target")
    if service == "s3":
        operation, params = _s3_operation(method, path, headers, body)
    elif service in _REST_JSON_OPERATIONS:
        operation = _REST_JSON_OPERATIONS[service].get(urlsplit(path).path, f"{method} {urlsplit(path).path}")
        params = json.loads(body or b"{}")
    elif target:
        operation = target.rsplit(".", 1)[-1]
        params = json.loads(body or b"{}")
    else:
        form = dict(parse_qsl(urlsplit(path).query)) | dict(parse_qsl(body.decode("utf-8")))
        operation = form.pop("Action", "")
        params = form
    return ApiCall(
        service,
        operation,
        region,
        access_key_id,
        token,
        _normalized(service, operation, params),
        secure_transport,
    )


def _normalized(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Parameters in the shape the action table's templates name."""
    if service == "events" and operation == "PutEvents":
        params = {**params, "Entries": [_event_entry(entry) for entry in params.get("Entries", [])]}
    if service == "sqs" and "QueueUrl" in params:
        params = {**params, "QueueName": params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]}
    if service == "glue" and isinstance(params.get("TableInput"), dict) and "Name" in params["TableInput"]:
        # CreateTable/UpdateTable name their table inside TableInput; GetTable/DeleteTable as Name.
        params = {**params, "Name": params["TableInput"]["Name"]}
    return params


def _event_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A PutEvents entry's bus by name; a bus given by ARN also keeps its own account and region (another
    account's bus, an Organization's central one, is that account's resource, judged by its policy)."""
    bus = entry.get("EventBusName") or "default"
    named = {**entry, "EventBusName": bus.rsplit("event-bus/", 1)[-1]}
    if bus.startswith("arn:"):
        _, _, _, region, account, _ = bus.split(":", 5)
        named |= {"EventBusRegion": region, "EventBusAccount": account}
    return named


def _s3_operation(
    method: str, path: str, headers: Mapping[str, str], body: bytes
) -> tuple[str, dict[str, Any]]:
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    bucket, _, key = parts.path.lstrip("/").partition("/")
    params: dict[str, Any] = {"Bucket": unquote(bucket)}
    if (_header(headers, "x-amz-bypass-governance-retention") or "").lower() == "true":
        params["BypassGovernanceRetention"] = True
    if key:
        params["Key"] = unquote(key)
        return _s3_object_operation(method, query, headers, params)
    return _s3_bucket_operation(method, query, body, params)


_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}


def _s3_object_operation(
    method: str, query: Mapping[str, str], headers: Mapping[str, str], params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    if "uploadId" in query or "uploads" in query:
        copy = bool(_header(headers, "x-amz-copy-source"))
        return _s3_multipart_operation(method, query, copy=copy), params
    if method == "PUT" and _header(headers, "x-amz-copy-source"):
        return "CopyObject", params
    kms_key = _header(headers, "x-amz-server-side-encryption-aws-kms-key-id")
    if kms_key:
        params["KmsKeyId"] = kms_key
    subresource = next((name for name in _OBJECT_SUBRESOURCES if name in query), None)
    if subresource:
        return f"{_VERBS.get(method, method)}{_OBJECT_SUBRESOURCES[subresource]}", params
    # A version by its id is s3:GetObjectVersion / s3:DeleteObjectVersion (list_amazons3.html).
    if "versionId" in query:
        params["VersionId"] = query["versionId"]
    operation = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}
    return operation.get(method, f"{method} object"), params


def _s3_multipart_operation(method: str, query: Mapping[str, str], *, copy: bool) -> str:
    """A multipart upload's steps: each is an operation (and IAM action) of its own; an abort is never a
    DeleteObject."""
    if "uploads" in query:
        return "CreateMultipartUpload" if method == "POST" else f"{method} uploads"
    if method == "PUT":
        # UploadPartCopy also reads its source: not in the table, so it fails loudly rather than pass.
        return "UploadPartCopy" if copy else "UploadPart"
    return {"POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload", "GET": "ListParts"}.get(
        method, f"{method} upload"
    )


def _s3_bucket_operation(
    method: str, query: Mapping[str, str], body: bytes, params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    if method == "POST" and "delete" in query:
        params["Keys"] = _delete_keys(body)
        versioned = any("VersionId" in item for item in params["Keys"])
        return ("DeleteObjectVersions" if versioned else "DeleteObjects"), params
    if "prefix" in query:
        params["Prefix"] = query["prefix"]
    if method == "GET" and "versions" in query:
        return "ListObjectVersions", params
    if method == "GET" and "uploads" in query:
        return "ListMultipartUploads", params
    subresource = next((name for name in _BUCKET_SUBRESOURCES if name in query), None)
    if subresource:
        return f"{_VERBS.get(method, method)}{_BUCKET_SUBRESOURCES[subresource]}", params
    if method == "GET":
        return ("ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"), params
    return {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(
        method, f"{method} bucket"
    ), params


def _delete_keys(body: bytes) -> list[dict[str, str]]:
    """DeleteObjects' <Object> entries: each key, and its version when one is named."""
    root = ElementTree.fromstring(body)  # noqa: S314  # the product's own request, on loopback
    entries = []
    for item in root.iter():
        if not item.tag.endswith("Object"):
            continue
        entry = {}
        for child in item:
            name = child.tag.rsplit("}", 1)[-1]
            if name in {"Key", "VersionId"}:
                entry[name] = child.text or ""
        entries.append(entry)
    return entries
