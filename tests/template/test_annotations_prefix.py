"""The annotations table's keys (<prefix>/annotations/dt=...) live beside the results' (<prefix>/dt=...) and
must be kept, moved, expired and shared exactly as the results they explain (issue 14).

- Lifecycle: a rule's filter is one key prefix, so a second prefix needs rules of its own ("If you want to
  apply a lifecycle action to a subset of objects with different prefixes, create separate rules for each
  action": https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-filters.html). A rule
  applies to every key that starts with its prefix
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html).
- Bucket policy: an Organization reader who may read results may read annotations; the decision is the
  local IAM evaluator's (emulation/authorization/policy_evaluation.py), as on the wire.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulation.authorization.policy_evaluation import Request, evaluate
from tests.template.cfn import Stack, transformed

PREFIX = "hook-results"
ORGANIZATION = "o-abcdefghij"
MEMBER = "111122223333"
RESULTS_KEY = f"{PREFIX}/dt=2026-11-27/{MEMBER}-us-east-1-0001.parquet"
ANNOTATIONS_KEY = f"{PREFIX}/annotations/dt=2026-11-27/{MEMBER}-us-east-1-0001.parquet"
CHECKPOINT_KEY = f"{PREFIX}/_state/{MEMBER}/us-east-1/checkpoint.json"
# A data file of the curated hook_annotations table (CuratorFunction's CURATED_ANNOTATIONS_LOCATION).
CURATED_ANNOTATIONS_KEY = (
    f"{PREFIX}-curated/123456789012/us-east-1/cfn_hook_archive/hook_annotations/data/dt=2026-11-27/0.parquet"
)
EVERY_LIFECYCLE_RULE = {
    "ArchiveTransitionDays": "400",
    "ArchiveTransitionStorageClass": "GLACIER_IR",
    "ArchiveExpirationDays": "3650",
    "NoncurrentVersionExpirationDays": "30",
}
ACTIONS = (
    "ExpirationInDays",
    "Transitions",
    "NoncurrentVersionExpiration",
    "AbortIncompleteMultipartUpload",
)


def lifecycle_rules(parameters: dict[str, str]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = Stack(transformed(), parameters=parameters).properties("ArchiveBucket")[
        "LifecycleConfiguration"
    ]["Rules"]
    return rules


def actions_on(rules: list[dict[str, Any]], key: str) -> dict[str, list[Any]]:
    """What the enabled rules whose prefix the key starts with do to it, per action."""
    applied: dict[str, list[Any]] = {}
    for rule in rules:
        prefix = rule.get("Prefix", rule.get("Filter", {}).get("Prefix", ""))
        if rule["Status"] == "Enabled" and key.startswith(prefix):
            for action in ACTIONS:
                if action in rule:
                    applied.setdefault(action, []).append(rule[action])
    return applied


@pytest.mark.parametrize(
    "parameters", [{}, EVERY_LIFECYCLE_RULE], ids=["defaults", "transition-and-expiration"]
)
def test_every_lifecycle_action_on_results_applies_to_their_annotations(parameters: dict[str, str]) -> None:
    rules = lifecycle_rules(parameters)
    on_results = actions_on(rules, RESULTS_KEY)
    assert on_results
    assert actions_on(rules, ANNOTATIONS_KEY) == on_results


def test_annotations_expire_and_transition_with_results_and_checkpoints_never_do() -> None:
    rules = lifecycle_rules(EVERY_LIFECYCLE_RULE)
    annotations = actions_on(rules, ANNOTATIONS_KEY)
    assert annotations["ExpirationInDays"] == ["3650"]
    assert annotations["Transitions"] == [[{"StorageClass": "GLACIER_IR", "TransitionInDays": "400"}]]
    assert "ExpirationInDays" not in actions_on(rules, CHECKPOINT_KEY)
    assert "Transitions" not in actions_on(rules, CHECKPOINT_KEY)


def test_the_curated_annotations_table_keeps_its_files_when_the_raw_annotations_expire() -> None:
    # The curator's hook_annotations (<prefix>-curated/...) keeps the rows of expired raw objects, like
    # hook_results: only its replaced files' noncurrent versions expire, never a current file.
    rules = lifecycle_rules(EVERY_LIFECYCLE_RULE)
    assert "ExpirationInDays" in actions_on(rules, ANNOTATIONS_KEY)
    curated = actions_on(rules, CURATED_ANNOTATIONS_KEY)
    assert "ExpirationInDays" not in curated
    assert "Transitions" not in curated
    assert curated["NoncurrentVersionExpiration"] == [{"NoncurrentDays": "30"}]


def test_control_without_the_annotations_rules_the_annotations_would_never_expire() -> None:
    # The comparison above can fail: drop the annotations' own rules and their expiry is gone.
    rules = [rule for rule in lifecycle_rules(EVERY_LIFECYCLE_RULE) if "/annotations/" not in rule["Prefix"]]
    assert "ExpirationInDays" in actions_on(rules, RESULTS_KEY)
    assert "ExpirationInDays" not in actions_on(rules, ANNOTATIONS_KEY)
    assert actions_on(rules, ANNOTATIONS_KEY) != actions_on(rules, RESULTS_KEY)


def _bucket_policy(members_read: str) -> dict[str, Any]:
    stack = Stack(
        transformed(),
        parameters={"OrganizationId": ORGANIZATION, "MembersReadArchive": members_read},
    )
    policy: dict[str, Any] = stack.properties("ArchiveBucketPolicy")["PolicyDocument"]
    return policy


def _reader_may_get(policy: dict[str, Any], key: str, *, organization: str = ORGANIZATION) -> bool:
    """A member account's analyst, whose own policy allows every read, reading the central archive."""
    request = Request(
        principal_arn=f"arn:aws:sts::{MEMBER}:assumed-role/analyst/session",
        action="s3:GetObject",
        resource=f"<ArchiveBucket.Arn>/{key}",
        context={"aws:PrincipalOrgID": organization, "aws:SecureTransport": "true"},
        resource_account="999988887777",
    )
    identity = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    return evaluate(request, [identity], policy).allowed


def test_an_organization_reader_reads_annotations_exactly_when_it_reads_results() -> None:
    for members_read in ("false", "true"):
        policy = _bucket_policy(members_read)
        results = _reader_may_get(policy, RESULTS_KEY)
        assert results is (members_read == "true")
        assert _reader_may_get(policy, ANNOTATIONS_KEY) is results, members_read
    # Neither reaches the checkpoints, nor a principal of another Organization
    policy = _bucket_policy("true")
    assert not _reader_may_get(policy, CHECKPOINT_KEY)
    assert not _reader_may_get(policy, ANNOTATIONS_KEY, organization="o-someoneelse")


def test_control_the_read_statement_without_its_annotations_resource_refuses_annotations() -> None:
    policy = _bucket_policy("true")
    (statement,) = [s for s in policy["Statement"] if s.get("Sid") == "OrganizationReadsTheArchive"]
    statement["Resource"] = [r for r in statement["Resource"] if "/annotations/" not in r]
    assert _reader_may_get(policy, RESULTS_KEY)
    assert not _reader_may_get(policy, ANNOTATIONS_KEY)
