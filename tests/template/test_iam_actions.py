"""Every IAM action template.yaml names, in every role and resource policy of every deployment the template
tests use, exists in the Service Authorization Reference (policy_sentry's offline database): a misspelt or
invented action fails `make test` instead of the first deploy or, worse, the first run."""

from __future__ import annotations

from functools import cache

import pytest
from policy_sentry.querying.actions import get_actions_for_service

from emulation.authorization.policy_evaluation import wildcard_match
from tests.template.cfn import Stack, transformed
from tests.template.test_stack import DEPLOYMENTS, STACK_NAME


@cache
def _service_actions(service: str) -> frozenset[str]:
    return frozenset(action.lower() for action in get_actions_for_service(service))


def unknown_actions(actions: list[str]) -> list[str]:
    """The actions (wildcards allowed, matched as IAM matches them) that name no real action."""
    unknown = []
    for action in actions:
        service, _, name = action.partition(":")
        known = _service_actions(service.lower())
        if not name or not known or not any(wildcard_match(action, real, ignore_case=True) for real in known):
            unknown.append(action)
    return unknown


def _named_actions(stack: Stack) -> list[str]:
    names: list[str] = []
    for _owner, statement in stack.policy_statements():
        for element in ("Action", "NotAction"):
            value = statement.get(element, [])
            names.extend([value] if isinstance(value, str) else value)
    return names


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_every_action_in_the_templates_policies_exists_in_the_iam_database(deployment: str) -> None:
    stack = Stack(transformed(), parameters=DEPLOYMENTS[deployment], stack_name=STACK_NAME)
    actions = _named_actions(stack)
    assert "cloudformation:ListAllHookResults" in actions
    assert unknown_actions(actions) == []


def test_a_misspelt_or_invented_action_is_caught() -> None:
    assert unknown_actions(
        [
            "cloudformation:ListAllHookResult",  # one letter short
            "cloudformation:ListHookResultz*",
            "s3:GetObjects",
            "nosuchservice:GetThing",
            "s3",
        ]
    ) == [
        "cloudformation:ListAllHookResult",
        "cloudformation:ListHookResultz*",
        "s3:GetObjects",
        "nosuchservice:GetThing",
        "s3",
    ]
    assert unknown_actions(["s3:*", "S3:getobject", "cloudformation:List*HookResults", "kms:Decrypt"]) == []
