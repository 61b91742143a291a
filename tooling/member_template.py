"""The member template of an Organization deployment, generated from template.yaml (never written by hand).

Service-managed StackSets refuse templates with a `Transform`, so the member template is the CloudFormation
that AWS's SAM transform makes of template.yaml (tooling/sam_transform.py), cut down to the archiver: its
role, function, layer, log group, schedule, on-failure destination and dead-letter queue. Everything an
account needs only once for the whole Organization (bucket, key, Glue table, Athena, notification rules,
topics, alarms, dashboards, fleet health) is the central stack's: template.yaml deployed with
OrganizationId.

What changes on the way:
- conditions that are fixed for a member are evaluated away: it never creates the archive bucket, a key,
  Object Lock or the central resources (`FIXED_CONDITIONS`);
- the code comes from the Organization's artefact bucket of the stack's region (Lambda reads code from its
  own region only): `<ArtifactBucketPrefix>-<region>`, keys given by `make package-org`;
- the archiver role gets a fixed name, `<MemberArchiverRoleName>-<region>` (IAM is global; one stack per
  region), which the central bucket, key and bus policies admit by `aws:PrincipalArn`;
- the member publishes only the metrics the fleet needs (METRICS_LEVEL=essential): fleet health covers the
  rest centrally;
- the central archive's coordinates become required parameters.

Usage (the transformed JSON from tooling/sam_transform.py, run by the SAM CLI's Python):
    python -m tooling.member_template TRANSFORMED.json --function-key K --layer-key K > member.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The archiver and what it needs to run, by logical id (the layer's id carries SAM's content hash).
MEMBER_RESOURCES = (
    "ArchiverRole",
    "ArchiverScheduleRole",
    "ArchiverFunction",
    "ArchiverFunctionEventInvokeConfig",
    "ArchiverFunctionSchedule",
    "ArchiverLogGroup",
    "DeadLetterQueue",
    "DeadLetterQueuePolicy",
)
LAYER_PREFIX = "DependenciesLayer"
FIXED_CONDITIONS = {
    "CreateArchiveBucket": False,
    "CreateArchiveKey": False,
    "OrganizationArchive": False,
    "OrganizationMembersRead": False,
    "LockArchive": False,
}
# Parameters whose template.yaml defaults a member cannot use: the central archive's coordinates.
REQUIRED = {
    "ExistingArchiveBucketName": (
        "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        "The central stack's archive bucket (its ArchiveBucketName output).",
    ),
    "KmsKeyArn": (
        "^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$",
        "The central archive's KMS key (its ArchiveKeyArn output); members use it through S3 only.",
    ),
    "EventBusName": (
        "^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9/._-]{1,256}$",
        "The central stack's bus ARN (its CentralEventBusArn output); members put failure events on it.",
    ),
}
NEW_PARAMETERS: dict[str, dict[str, Any]] = {
    "ArtifactBucketPrefix": {
        "Type": "String",
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,40}$",
        "Description": (
            "Artefact buckets of make package-org, one per region, named <prefix>-<region> and readable by "
            "the Organization."
        ),
    },
    "MemberArchiverRoleName": {
        "Type": "String",
        "Default": "cfn-hook-archive-archiver",
        "AllowedPattern": "^[A-Za-z0-9+=,.@_-]{1,40}$",
        "Description": (
            "The archiver role is named <this>-<region>: the central stack's MemberArchiverRoleName, which "
            "its policies admit."
        ),
    },
}
# Members publish only RunsSucceeded (bench/RESULTS.md, cost section): fleet health watches them centrally.
MEMBER_ENVIRONMENT = {"METRICS_LEVEL": "essential"}


class MemberTemplateError(ValueError):
    """template.yaml no longer yields a valid member template (a reference the cut left dangling)."""


def member_template(transformed: dict[str, Any], *, function_key: str, layer_key: str) -> dict[str, Any]:
    """The member template, from the SAM-transformed template.yaml."""
    conditions, definitions = _fixed_conditions(transformed.get("Conditions", {}))
    resources = {
        logical_id: resource
        for logical_id, resource in transformed["Resources"].items()
        if logical_id in MEMBER_RESOURCES or logical_id.startswith(LAYER_PREFIX)
    }
    missing = set(MEMBER_RESOURCES) - set(resources)
    if missing:
        raise MemberTemplateError(f"template.yaml has no {sorted(missing)}")
    removed = set(transformed["Resources"]) - {
        logical_id
        for logical_id, resource in resources.items()
        if conditions.get(resource.get("Condition", ""), True)
    }
    kept = {
        logical_id: _without_fixed_conditions(resource, conditions, removed)
        for logical_id, resource in resources.items()
        if logical_id not in removed
    }
    _pin_code(kept, function_key=function_key, layer_key=layer_key)
    role = kept["ArchiverRole"]["Properties"]
    role["RoleName"] = {"Fn::Sub": "${MemberArchiverRoleName}-${AWS::Region}"}
    variables = kept["ArchiverFunction"]["Properties"]["Environment"]["Variables"]
    variables.update(MEMBER_ENVIRONMENT)
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "cfn-hook-archive member (Organization StackSet): archives this account-region's hook results "
            "into the central archive. Generated from template.yaml by tooling/member_template.py."
        ),
        "Resources": kept,
    }
    template["Conditions"] = _used_conditions(definitions, template)
    template["Parameters"] = _parameters(transformed["Parameters"], template)
    template["Outputs"] = {
        "ArchiverFunctionName": {"Value": {"Ref": "ArchiverFunction"}},
        "ArchiverRoleArn": {"Value": {"Fn::GetAtt": ["ArchiverRole", "Arn"]}},
        "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
    }
    if not template["Conditions"]:
        del template["Conditions"]
    dangling = _references(template) - set(kept) - set(template["Parameters"]) - _PSEUDO
    if dangling:
        raise MemberTemplateError(f"the member template refers to {sorted(dangling)}, which it does not have")
    return template


_PSEUDO = {
    "AWS::AccountId",
    "AWS::Region",
    "AWS::Partition",
    "AWS::StackName",
    "AWS::NoValue",
    "AWS::URLSuffix",
}


def _without_fixed_conditions(node: Any, conditions: dict[str, bool], removed: set[str]) -> Any:
    """`node` with every Fn::If on a fixed condition replaced by its branch, and policy statements that name
    a resource the member does not have (e.g. the notification rules' dead letters) left out."""
    if isinstance(node, list):
        items = [_without_fixed_conditions(item, conditions, removed) for item in node]
        return [item for item in items if item is not _DROPPED]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::If"} and node["Fn::If"][0] in conditions:
        name, when_true, when_false = node["Fn::If"]
        branch = when_true if conditions[name] else when_false
        if branch == {"Ref": "AWS::NoValue"}:
            return _DROPPED
        return _without_fixed_conditions(branch, conditions, removed)
    out = {key: _without_fixed_conditions(value, conditions, removed) for key, value in node.items()}
    out = {key: value for key, value in out.items() if value is not _DROPPED}
    if "Effect" in out and "Action" in out and _references(out) & removed:
        return _DROPPED
    return out


_DROPPED = object()


def _references(node: Any) -> set[str]:
    return set(_walk_references(node))


def _walk_references(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _walk_references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield value[0] if isinstance(value, list) else value.split(".", 1)[0]
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                yield from _sub_names(text, variables)
                yield from _walk_references(variables)
            elif key == "Condition" and isinstance(value, str):
                continue
            else:
                yield from _walk_references(value)


def _sub_names(text: str, variables: dict[str, Any]) -> Iterator[str]:
    for part in text.split("${")[1:]:
        name = part.split("}", 1)[0]
        if name.startswith("!") or name in variables:
            continue
        yield name.split(".", 1)[0]


def _pin_code(resources: dict[str, Any], *, function_key: str, layer_key: str) -> None:
    bucket = {"Fn::Sub": "${ArtifactBucketPrefix}-${AWS::Region}"}
    resources["ArchiverFunction"]["Properties"]["Code"] = {"S3Bucket": bucket, "S3Key": function_key}
    layers = [logical_id for logical_id in resources if logical_id.startswith(LAYER_PREFIX)]
    if len(layers) != 1:
        raise MemberTemplateError(f"expected one dependencies layer, found {layers}")
    resources[layers[0]]["Properties"]["Content"] = {"S3Bucket": bucket, "S3Key": layer_key}


def _used_conditions(conditions: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    used: set[str] = set()
    pending = set(_condition_names(template))
    while pending:
        name = pending.pop()
        if name in used:
            continue
        if name not in conditions:
            raise MemberTemplateError(f"condition {name} is fixed for members but still used")
        used.add(name)
        pending |= set(_condition_names(conditions[name]))
    return {name: conditions[name] for name in sorted(used)}


def _fixed_conditions(definitions: dict[str, Any]) -> tuple[dict[str, bool], dict[str, Any]]:
    """The conditions whose value FIXED_CONDITIONS decides (directly or through others), and the rest with
    those evaluated away."""
    fixed = dict(FIXED_CONDITIONS)
    rest = {name: definition for name, definition in definitions.items() if name not in fixed}
    changed = True
    while changed:
        changed = False
        for name, definition in list(rest.items()):
            simplified = _simplify(definition, fixed)
            if isinstance(simplified, bool):
                fixed[name] = simplified
                del rest[name]
                changed = True
            else:
                rest[name] = simplified
    # A definition reduced to another condition's name is not a condition function: inline that one's.
    for name in list(rest):
        target = rest[name]
        while set(target) == {"Condition"}:
            target = rest[target["Condition"]]
        rest[name] = target
    return fixed, rest


def _simplify(node: Any, fixed: dict[str, bool]) -> Any:
    """A condition expression with the fixed conditions in it evaluated: a bool when they decide it."""
    (function, argument), *_ = node.items()
    if function in {"Condition", "Fn::Condition"}:
        return fixed.get(argument, node)
    if function == "Fn::Not":
        inner = _simplify(argument[0], fixed)
        return (not inner) if isinstance(inner, bool) else {"Fn::Not": [inner]}
    if function in {"Fn::And", "Fn::Or"}:
        decisive = function == "Fn::Or"  # True decides an Or, False an And
        items = [_simplify(item, fixed) for item in argument]
        if decisive in items:
            return decisive
        items = [item for item in items if not isinstance(item, bool)]
        if not items:
            return not decisive
        return items[0] if len(items) == 1 else {function: items}
    return node


def _condition_names(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _condition_names(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::If":
                yield value[0]
                yield from _condition_names(value[1:])
            elif key == "Condition" and isinstance(value, str):
                yield value
            else:
                yield from _condition_names(value)


def _parameters(parameters: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    used = _references(template) | _references(template.get("Conditions", {}))
    out = {name: dict(spec) for name, spec in parameters.items() if name in used}
    for name, (pattern, description) in REQUIRED.items():
        out[name] = {"Type": "String", "AllowedPattern": pattern, "Description": description}
    out.update({name: dict(spec) for name, spec in NEW_PARAMETERS.items()})
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("transformed", type=Path, help="template.yaml after the SAM transform (JSON)")
    parser.add_argument("--function-key", required=True, help="S3 key of the archiver's code zip")
    parser.add_argument("--layer-key", required=True, help="S3 key of the dependencies layer zip")
    args = parser.parse_args(argv)
    transformed = json.loads(args.transformed.read_text())
    template = member_template(transformed, function_key=args.function_key, layer_key=args.layer_key)
    json.dump(template, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
