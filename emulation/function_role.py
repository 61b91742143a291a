"""The archiver's execution role, as one deployment of template.yaml creates it, in moto's IAM; and the
credentials Lambda would hand the function: an STS session of that role.

The role's documents come from the template through the same resolver the template tests use, so the
local stack enforces exactly the policy `sam deploy` would create, for whatever parameters it is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulation.cfn_stack import Stack

ROLE_LOGICAL_ID = "ArchiverRole"


@dataclass(frozen=True)
class RoleDocuments:
    trust_policy: dict[str, Any]
    policies: dict[str, dict[str, Any]]  # inline policy name -> document

    @classmethod
    def of(cls, stack: Stack, logical_id: str = ROLE_LOGICAL_ID) -> RoleDocuments:
        properties = stack.properties(logical_id)
        return cls(
            trust_policy=properties["AssumeRolePolicyDocument"],
            policies={item["PolicyName"]: item["PolicyDocument"] for item in properties.get("Policies", [])},
        )

    def statement(self, sid: str) -> dict[str, Any]:
        for document in self.policies.values():
            for statement in document["Statement"]:
                if statement.get("Sid") == sid:
                    return dict(statement)
        raise KeyError(f"the role has no statement {sid}")

    def sids(self) -> list[str]:
        return [item["Sid"] for document in self.policies.values() for item in document["Statement"]]

    def without(self, sid: str) -> RoleDocuments:
        """The same role with statement `sid` taken away."""
        self.statement(sid)
        policies = {
            name: {**document, "Statement": [s for s in document["Statement"] if s.get("Sid") != sid]}
            for name, document in self.policies.items()
        }
        return RoleDocuments(self.trust_policy, policies)

    def replacing(self, sid: str, statement: Mapping[str, Any]) -> RoleDocuments:
        """The same role with statement `sid` replaced (narrowed, say)."""
        self.statement(sid)
        policies = {
            name: {
                **document,
                "Statement": [dict(statement) if s.get("Sid") == sid else s for s in document["Statement"]],
            }
            for name, document in self.policies.items()
        }
        return RoleDocuments(self.trust_policy, policies)


def put_role(iam: Any, role_name: str, documents: RoleDocuments) -> str:
    """Create the role if it is missing and make its inline policies exactly `documents`; return its ARN."""
    try:
        arn = str(iam.get_role(RoleName=role_name)["Role"]["Arn"])
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(documents.trust_policy))
    except iam.exceptions.NoSuchEntityException:
        arn = str(
            iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(documents.trust_policy))[
                "Role"
            ]["Arn"]
        )
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        if name not in documents.policies:
            iam.delete_role_policy(RoleName=role_name, PolicyName=name)
    for name, document in documents.policies.items():
        iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(document))
    return arn


def session_credentials(sts: Any, role_arn: str, session_name: str) -> dict[str, str]:
    """What Lambda puts in the function's environment: a session of its execution role."""
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
