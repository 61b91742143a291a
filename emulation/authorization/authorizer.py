"""Authorizes each call that reaches the local stack as AWS would: the caller is whoever moto's STS issued
the access key to, its identity policies are the role's policies in moto's IAM, and the resource policies
are the bucket, bus and key policies in moto's S3, EventBridge and KMS, and the caller's Organization
(`aws:PrincipalOrgID`) is the one moto's Organizations holds its account in. The decision is ours
(`policy_evaluation`), the actions are the table's (`action_map`); moto stores the state, in-process.

Keys listed as `admin_access_keys` (the tests' own clients) are allowed everything: they play the
account's administrator, who sets the stack up and reads the results. Every other key must belong to an
assumed role or an IAM user, or the call fails like an unknown key does on AWS.
"""

from __future__ import annotations

import json
import string
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moto.events.models import events_backends
from moto.iam.access_control import CreateAccessKeyFailure, create_access_key
from moto.iam.models import Policy, get_account_id_from
from moto.kms.models import kms_backends
from moto.organizations.models import organizations_backends
from moto.s3.models import FakeBucket, s3_backends

from emulation.authorization.action_map import ACTIONS, Requirement
from emulation.authorization.api_calls import ApiCall
from emulation.authorization.policy_evaluation import Decision, Request, evaluate

PARTITION = "aws"


@dataclass(frozen=True)
class Denial:
    code: str
    message: str
    status: int
    bucket_region: str | None = None  # S3's answer to a call signed for another region than the bucket's


@dataclass(frozen=True)
class Verdict:
    """What the caller may do: everything, nothing (`denial`), or every item but `denied_items`."""

    call: ApiCall
    principal_arn: str
    denial: Denial | None = None
    denied_items: dict[int, Denial] = field(default_factory=dict)
    decisions: tuple[Decision, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.denial is None


@dataclass(frozen=True)
class _Caller:
    arn: str
    account: str
    policies: tuple[Mapping[str, Any], ...]
    organization_id: str | None = None


# Each protocol's error code for a denied call (HTTP status, code), as the services send it.
_ACCESS_DENIED = {
    "s3": (403, "AccessDenied"),
    "cloudformation": (403, "AccessDenied"),
    "sts": (403, "AccessDenied"),
    "sqs": (403, "AccessDenied"),
}
_ACCESS_DENIED_JSON = (400, "AccessDeniedException")
_INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105  # a message
_UNKNOWN_KEY = {
    "s3": (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
    "cloudformation": (403, "InvalidClientTokenId", _INVALID_TOKEN),
    "sts": (403, "InvalidClientTokenId", _INVALID_TOKEN),
}
_UNKNOWN_KEY_JSON = (
    400,
    "UnrecognizedClientException",
    "The security token included in the request is invalid.",
)
# EventBridge reports a PutEvents entry whose condition on these keys failed with its own error code.
_ENTRY_CONDITION_CODES = {
    "events:source": "NotAuthorizedForSourceException",
    "events:detail-type": "NotAuthorizedForDetailTypeException",
}


# EventBridge's answer to a call naming a bus ARN of another region than the endpoint's, as users report it
# (e.g. aws-samples/amazon-eventbridge-resource-policy-samples#10, hashicorp/terraform-provider-aws#31444).
_CROSS_REGION = ("ValidationException", "Cross-region api call is not allowed.", 400)


def _names_a_bus_of_another_region(call: ApiCall) -> bool:
    if (call.service, call.operation) != ("events", "PutEvents"):
        return False
    return any(
        entry.get("EventBusRegion", call.region) != call.region for entry in call.params.get("Entries", [])
    )


# S3 refuses a request signed for another region than the bucket's with AuthorizationHeaderMalformed,
# naming the bucket's region in <Region> and x-amz-bucket-region (a HEAD: the header only). boto3 follows it
# (botocore's S3RegionRedirectorv2); pyarrow's S3 filesystem does not. GetBucketLocation answers any region.
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
_ANY_REGION_S3_OPERATIONS = frozenset({"GetBucketLocation", "ListBuckets", "CreateBucket"})


def _wrong_bucket_region(call: ApiCall) -> Denial | None:
    if call.service != "s3" or call.operation in _ANY_REGION_S3_OPERATIONS:
        return None
    bucket = _bucket(call.params.get("Bucket", ""))
    if bucket is None or bucket.region_name == call.region:
        return None
    message = (
        f"The authorization header is malformed; the region '{call.region}' is wrong;"
        f" expecting '{bucket.region_name}'"
    )
    return Denial("AuthorizationHeaderMalformed", message, 400, bucket_region=bucket.region_name)


def take_over_bucket_policy_checks() -> None:
    """Bucket policies are judged here, in front of moto: moto's own check turns a statement whose condition
    does not hold into a Deny, so the template's TLS-only policy (Deny if aws:SecureTransport is false)
    would refuse every call, even over TLS. moto keeps storing the policies; it stops judging them."""
    FakeBucket.get_permission = _no_opinion  # type: ignore[method-assign,assignment]


def _no_opinion(_bucket: Any, _action: str, _resource: str) -> Any:
    from moto.iam.access_control import PermissionResult  # noqa: PLC0415

    return PermissionResult.NEUTRAL


class UnmappedOperation(LookupError):
    """A call the action table does not name: add it to action_map.ACTIONS rather than let it through."""


class Authorizer:
    def __init__(self, *, admin_access_keys: Iterable[str] = ()) -> None:
        take_over_bucket_policy_checks()
        self.admin_access_keys = frozenset(admin_access_keys)
        self._lock = threading.Lock()
        self.verdicts: list[Verdict] = []

    # -- the decision --------------------------------------------------------------------------

    def authorize(self, call: ApiCall, *, kms_key_id: str | None = None) -> Verdict:
        """The verdict on `call`; `kms_key_id` is the key a service would use for the caller (the emulator
        knows which key encrypts a hook result; S3's is looked up here)."""
        if call.access_key_id in self.admin_access_keys:
            return self._record(Verdict(call, principal_arn="admin"))
        # EventBridge takes a bus ARN of another account, but only in the endpoint's own region: the
        # client must be made in the bus's region (a rule, not PutEvents, routes across regions).
        wrong_region = (
            Denial(*_CROSS_REGION) if _names_a_bus_of_another_region(call) else _wrong_bucket_region(call)
        )
        if wrong_region is not None:
            return self._record(Verdict(call, "unchecked", wrong_region))
        caller = self._caller(call)
        if caller is None:
            status, code, message = _UNKNOWN_KEY.get(call.service, _UNKNOWN_KEY_JSON)
            return self._record(Verdict(call, "unknown", Denial(code, message, status)))
        requirements = ACTIONS.get((call.service, call.operation))
        if requirements is None:
            raise UnmappedOperation(
                f"{call.service} {call.operation}: no IAM action in emulation/authorization/action_map.py"
            )
        values = self._values(call, caller, kms_key_id)
        decisions: list[Decision] = []
        denied_items: dict[int, Denial] = {}
        for requirement in requirements:
            if not requirement.applies(values):
                continue
            items = list(enumerate(call.params.get(requirement.each, []))) if requirement.each else [(-1, {})]
            for index, item in items:
                decision = self._decide(requirement, call, caller, {**values, **item})
                decisions.append(decision)
                if decision.allowed:
                    continue
                if requirement.each == "Entries":
                    denied_items[index] = self._entry_denial(decision)
                else:
                    return self._record(
                        Verdict(call, caller.arn, self._denial(call, decision), {}, tuple(decisions))
                    )
        if (
            denied_items
            and len(denied_items) == len(call.params.get("Entries", []))
            and all(item.code == "AccessDeniedException" for item in denied_items.values())
        ):
            # Not one entry is allowed, and not for a source or detail-type: the whole call is denied.
            first = denied_items[min(denied_items)]
            return self._record(Verdict(call, caller.arn, first, {}, tuple(decisions)))
        return self._record(Verdict(call, caller.arn, None, denied_items, tuple(decisions)))

    def allows_not_found(self, verdict: Verdict) -> bool:
        """Whether a 404 may reach this caller (S3: only with s3:ListBucket on the bucket)."""
        call = verdict.call
        missing_bucket = call.service == "s3" and _bucket(call.params["Bucket"]) is None
        if verdict.principal_arn == "admin" or missing_bucket:
            return True  # bucket existence is no secret: NoSuchBucket reaches anyone
        for requirement in ACTIONS.get((call.service, call.operation), ()):
            if requirement.not_found_needs is None:
                continue
            caller = self._caller(call)
            if caller is None:
                return False
            # Judged with the requested key as s3:prefix, so a ListBucket narrowed to a prefix still answers
            # 404 under it (seen against S3 in kopia/kopia#3072; Ceph RGW does the same "to match aws
            # behavior", ceph/ceph#68577).
            needed = Requirement(
                requirement.not_found_needs, "arn:{partition}:s3:::{Bucket}", {"s3:prefix": "{Key}"}
            )
            decision = self._decide(needed, call, caller, self._values(call, caller, None))
            if not decision.allowed:
                return False
        return True

    def _decide(
        self, requirement: Requirement, call: ApiCall, caller: _Caller, values: Mapping[str, Any]
    ) -> Decision:
        resource = _fill(requirement.resource, values)
        context: dict[str, str] = {
            "aws:RequestedRegion": call.region,
            "aws:SecureTransport": "true" if call.secure_transport else "false",
        }
        if caller.organization_id is not None:
            # A global key, present only when the caller's account belongs to an Organization.
            context["aws:PrincipalOrgID"] = caller.organization_id
        for key, template in requirement.context.items():
            value = _fill(template, values, missing=None)
            if value is not None:
                context[key] = value
        resource_policy, owner = self._resource_policy(requirement.action, resource, call)
        request = Request(caller.arn, requirement.action, resource, context, owner)
        return evaluate(request, caller.policies, resource_policy)

    def _denial(self, call: ApiCall, decision: Decision) -> Denial:
        status, code = _ACCESS_DENIED.get(call.service, _ACCESS_DENIED_JSON)
        if decision.request.action.startswith("kms:") and call.service == "s3":
            status, code = 403, "AccessDenied"
        return Denial(code, decision.message(), status)

    def _entry_denial(self, decision: Decision) -> Denial:
        for key in ("events:source", "events:detail-type"):
            if key in decision.unmet_condition_keys:
                return Denial(_ENTRY_CONDITION_CODES[key], decision.message(), 400)
        return Denial("AccessDeniedException", decision.message(), 400)

    def _record(self, verdict: Verdict) -> Verdict:
        with self._lock:
            self.verdicts.append(verdict)
        return verdict

    # -- state, read from moto -----------------------------------------------------------------

    def _caller(self, call: ApiCall) -> _Caller | None:
        account = get_account_id_from(call.access_key_id)
        headers = {"X-Amz-Security-Token": call.session_token} if call.session_token else {}
        try:
            key = create_access_key(account, PARTITION, call.access_key_id, headers)
        except CreateAccessKeyFailure:
            return None
        policies = tuple(_document(policy) for policy in key.collect_policies())
        return _Caller(key.arn, account, policies, organization_of(account))

    def _values(self, call: ApiCall, caller: _Caller, kms_key_id: str | None) -> dict[str, Any]:
        values: dict[str, Any] = {
            "partition": PARTITION,
            "region": call.region,
            "account": caller.account,
            **call.params,
        }
        if call.service == "s3":
            bucket = _bucket(call.params.get("Bucket", ""))
            if bucket is not None:
                values["bucket_region"] = bucket.region_name
                values.setdefault("KmsKeyId", _s3_kms_key(bucket, call))
        if call.service == "events":
            # A PutEvents entry's bus given by name is the caller's, in the endpoint's region.
            values |= {"EventBusRegion": call.region, "EventBusAccount": caller.account}
        if kms_key_id is not None:
            values["KmsKeyId"] = kms_key_id
        return {name: value for name, value in values.items() if value is not None}

    def _resource_policy(
        self, action: str, resource: str, call: ApiCall
    ) -> tuple[Mapping[str, Any] | None, str | None]:
        """The resource's own policy and its owner account (None: the caller's account)."""
        service = action.split(":", 1)[0]
        if service == "s3":
            bucket = _bucket(resource.split(":::", 1)[-1].split("/", 1)[0])
            if bucket is None:
                return None, None
            policy = json.loads(bucket.policy) if bucket.policy else None
            return policy, bucket.account_id
        if service == "events" and resource.startswith("arn:"):
            _, _, _, region, account, name = resource.split(":", 5)
            bus = events_backends[account][region].event_buses.get(name.removeprefix("event-bus/"))
            return (json.loads(bus.policy) if bus is not None and bus.policy else None), account
        if service == "kms" and resource.startswith("arn:"):
            _, _, _, region, account, name = resource.split(":", 5)
            key = kms_backends[account][region].keys.get(name.removeprefix("key/"))
            if key is None:
                # A key the local account never created: its owner's default key policy (the account root).
                root = f"arn:{PARTITION}:iam::{account}:root"
                default = {
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}
                    ]
                }
                return default, account
            return json.loads(key.policy), account
        return None, None


def organization_of(account: str) -> str | None:
    """The id of the Organization `account` belongs to in moto (its management account's or a member's), or
    None. moto keeps the organization in its management account's backend and maps each member to that
    account (`organizations_backends.master_accounts`, which moto's reset does not clear: a member is only
    counted while its management account's organization still lists it). Read without creating backends."""
    management, partition = organizations_backends.master_accounts.get(account, (account, PARTITION))
    backends = dict.get(organizations_backends, management)
    backend = dict.get(backends, partition) if backends is not None else None
    if backend is None or backend.org is None:
        return None
    if not any(item.id == account for item in backend.accounts):
        return None  # left the organization, or a member of an organization reset since
    return str(backend.org.id)


def _document(policy: Any) -> Mapping[str, Any]:
    if isinstance(policy, Policy):
        version = next(item for item in policy.versions if item.is_default)
        return dict(json.loads(version.document))
    if isinstance(policy, str):
        return dict(json.loads(policy))
    return dict(json.loads(policy["policy_document"]))


def _bucket(name: str) -> Any:
    located = s3_backends.bucket_accounts.get(name)
    if located is None:
        return None
    partition, account = located
    return s3_backends[account][partition].buckets.get(name)


def _s3_kms_key(bucket: Any, call: ApiCall) -> str | None:
    """The key S3 would use for the caller: the object's own key to read, the bucket default to write."""
    if call.operation in {"GetObject", "HeadObject"}:
        stored = bucket.keys.get(call.params.get("Key", ""))  # may be a delete marker: no encryption
        return stored.kms_key_id if getattr(stored, "encryption", None) == "aws:kms" else None
    if call.operation == "PutObject" and bucket.encryption:
        default = bucket.encryption["Rule"]["ApplyServerSideEncryptionByDefault"]
        if default.get("SSEAlgorithm") in {"aws:kms", "aws:kms:dsse"}:
            key = default.get("KMSMasterKeyID")
            if not key:
                return None
            # A bare key id names a key of the bucket's own account and region.
            return (
                str(key)
                if str(key).startswith("arn:")
                else (f"arn:{PARTITION}:kms:{bucket.region_name}:{bucket.account_id}:key/{key}")
            )
    return None


class _Missing(KeyError):
    pass


def _fill(template: str, values: Mapping[str, Any], *, missing: Any = _Missing) -> Any:
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if any(name not in values for name in names):
        if missing is _Missing:
            raise _Missing(f"{template!r} needs {[n for n in names if n not in values]}")
        return missing
    return template.format_map(values)
