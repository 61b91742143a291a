"""ObjectLockMode and ObjectLockDays in the SAM-transformed template: off by default, the bucket's default
retention when set, refused for a bucket the stack does not create, and no lifecycle rule that could remove a
locked version.

The S3 behaviour the lifecycle test relies on:
- in a versioning-enabled bucket, an `Expiration` of the current version only adds a delete marker and
  leaves the version, now noncurrent, in place
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html);
- a lifecycle rule never deletes an object version while it is locked: `NoncurrentVersionExpiration`
  removes it only once its retention has passed, and transitions keep its lock
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html#object-lock-managing-lifecycle);
- a bucket with Object Lock cannot have versioning suspended, nor Object Lock turned off (same page).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.cfn import Stack, transformed
from tests.template.rules import refusals

MODES = ["GOVERNANCE", "COMPLIANCE"]
# Lifecycle actions whose effect on a locked version S3 documents as harmless (see the module docstring):
# current-version expiration adds a delete marker, noncurrent expiration waits for the retention to pass,
# transitions keep the lock, and an incomplete multipart upload is no object version yet.
LOCK_SAFE_ACTIONS = {
    "ExpirationInDays",
    "NoncurrentVersionExpiration",
    "Transitions",
    "AbortIncompleteMultipartUpload",
}
RULE_FILTERS = {"Id", "Status", "Prefix"}


def archive_bucket(parameters: dict[str, str]) -> dict[str, Any]:
    properties: dict[str, Any] = Stack(transformed(), parameters=parameters).properties("ArchiveBucket")
    return properties


def test_object_lock_is_off_by_default() -> None:
    properties = archive_bucket({})
    assert "ObjectLockEnabled" not in properties
    assert "ObjectLockConfiguration" not in properties
    assert Stack(transformed()).condition("LockArchive") is False


@pytest.mark.parametrize("mode", MODES)
def test_a_mode_makes_the_parameters_the_buckets_default_retention(mode: str) -> None:
    parameters = {"ObjectLockMode": mode, "ObjectLockDays": "2555"}
    properties = archive_bucket(parameters)
    assert properties["ObjectLockEnabled"] is True
    assert properties["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": mode, "Days": "2555"}},
    }
    # S3 enables Object Lock only on a versioned bucket, and never lets its versioning be suspended.
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert refusals(Stack(transformed(), parameters=parameters)) == []
    # The days default to a year when only the mode is given.
    default_days = archive_bucket({"ObjectLockMode": mode})["ObjectLockConfiguration"]["Rule"]
    assert default_days == {"DefaultRetention": {"Mode": mode, "Days": "365"}}


@pytest.mark.parametrize("mode", MODES)
def test_rules_refuse_object_lock_with_an_existing_archive_bucket(mode: str) -> None:
    existing = {"ExistingArchiveBucketName": "central-hook-archive"}
    (refusal,) = refusals(Stack(transformed(), parameters={**existing, "ObjectLockMode": mode}))
    assert "ObjectLockMode" in refusal
    assert "ExistingArchiveBucketName" in refusal
    assert refusals(Stack(transformed(), parameters={**existing, "ObjectLockMode": "NONE"})) == []


@pytest.mark.parametrize("mode", MODES)
def test_no_lifecycle_rule_of_a_locked_archive_can_remove_a_locked_version(mode: str) -> None:
    # Every lifecycle rule the parameters can switch on: transition, expiration, noncurrent expiration.
    parameters = {
        "ObjectLockMode": mode,
        "ObjectLockDays": "3650",
        "ArchiveTransitionDays": "90",
        "ArchiveTransitionStorageClass": "GLACIER_IR",
        "ArchiveExpirationDays": "30",
        "NoncurrentVersionExpirationDays": "1",
    }
    properties = archive_bucket(parameters)
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = properties["LifecycleConfiguration"]["Rules"]
    assert {rule["Id"] for rule in rules} == {
        "noncurrent-versions",
        "curated-noncurrent-versions",
        "archive-transition",
        "archive-expiration",
        "annotations-transition",
        "annotations-expiration",
    }
    for rule in rules:
        actions = set(rule) - RULE_FILTERS
        assert actions, rule["Id"]
        assert actions <= LOCK_SAFE_ACTIONS, (rule["Id"], actions - LOCK_SAFE_ACTIONS)
