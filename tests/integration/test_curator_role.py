"""The curator with template.yaml's CuratorRole: it curates the archiver's real raw archive into the
hook_results and hook_annotations Iceberg tables with exactly that role's permissions, and every statement of
the role is needed.
Taken away, the run fails with the AWS error code of the refused action; put back, the next run leaves the
table equal to the raw archive (no row lost, none doubled).

Every call (Glue, S3, KMS) goes through the local stack's authorizing proxy, as template.yaml's role
allows it (emulation/authorization). Logs and Tracing are used by the Lambda service around the invocation
(log delivery, the X-Ray segment: emulation/lambda_service.py), never by the handler: taken away, the
service's delivery is refused and the curation is unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulation.archiver_harness import ArchiverHarness
from emulation.authorization.authorizer import Verdict
from emulation.aws_stack import ACCOUNT_ID, REGION, LocalAws
from emulation.cfn_stack import Stack
from emulation.curated_queries import annotation_rows
from emulation.curator_harness import ROLE_LOGICAL_ID, CuratorHarness, CuratorRunError
from emulation.function_role import RoleDocuments
from emulation.lambda_runtime import load_template
from tests.integration.conftest import seed_history

pytestmark = pytest.mark.integration

QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
# A deployment with a KMS key, so that the role has every statement it can have (ArchiveKey).
SOME_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/00000000-0000-0000-0000-000000000000"
TEMPLATE_SIDS = RoleDocuments.of(
    Stack(load_template(), parameters={"KmsKeyArn": SOME_KEY}), ROLE_LOGICAL_ID
).sids()

# Used by the Lambda service on the function's behalf: what it delivers without the statement.
SERVICE_SIDE = {"Logs": "logs", "Tracing": "trace"}
# The first refusal a run meets without the statement: the IAM action, and the error code the curator's
# error carries (botocore's AWS code; pyarrow's S3 filesystem names it in its own spelling).
REFUSED = {
    "CuratedTableCatalog": ("glue:GetTable", "AccessDeniedException"),
    # pyarrow checks that a new metadata file does not exist yet: its 404 is a 403 without s3:ListBucket.
    "ListCuratedTable": ("s3:ListBucket", "ACCESS_DENIED during HeadObject"),
    "CuratedTableFiles": ("s3:GetObject", "ACCESS_DENIED during HeadObject"),
    "ListRawArchive": ("s3:ListBucket", "AccessDenied"),
    "ReadRawArchive": ("s3:GetObject", "AccessDenied"),
    "ArchiveKey": ("kms:Decrypt", "AccessDenied"),
}


@pytest.fixture
def curator(archiver: ArchiverHarness) -> CuratorHarness:
    return CuratorHarness(archiver, runtime_environment=QUIET)


@pytest.fixture
def with_kms_key(aws: LocalAws, archiver: ArchiverHarness) -> str:
    """The deployment with KmsKeyArn: the archive bucket's default encryption is SSE-KMS with that key."""
    key: str = aws.client("kms").create_key(Description="archive")["KeyMetadata"]["Arn"]
    archiver.parameters["KmsKeyArn"] = key
    return key


def _archive(aws: LocalAws, archiver: ArchiverHarness, *, seed: int = 1) -> None:
    seed_history(aws, days=3, per_day=10, seed=seed)
    report = archiver.run()
    assert report["status"] == "complete", report


def _assert_curated_equals_raw(curator: CuratorHarness) -> None:
    """hook_results holds exactly the raw archive's rows: same ids, none twice, same values."""
    raw = {row["hook_result_id"]: row for row in curator.archiver.read_archive().to_pylist()}
    curated = curator.curated_rows().to_pylist()
    ids = [row["hook_result_id"] for row in curated]
    assert len(ids) == len(set(ids)), "a hook_result_id twice in hook_results"
    assert set(ids) == set(raw)
    for row in curated:
        want = raw[row["hook_result_id"]]
        assert row["raw_object_key"] == want["object_key"]
        for name, value in want.items():
            if name != "object_key":
                assert row[name] == value, (name, row["hook_result_id"])


def _assert_curated_annotations_equal_raw(curator: CuratorHarness) -> None:
    """hook_annotations holds exactly the raw annotation rows: each, once (an id has several)."""
    raw = curator.archiver.read_annotations()
    assert raw.num_rows > 0, "the archiver wrote no annotations: nothing to compare"
    curated = curator.curated_annotations()
    assert annotation_rows(curated) == annotation_rows(raw)
    keys = set(curator.archiver.annotation_keys())
    assert set(curated.column("raw_object_key").to_pylist()) == keys


def _refusals(aws: LocalAws) -> list[Verdict]:
    assert aws.authorizer is not None
    return [
        verdict
        for verdict in aws.authorizer.verdicts
        if ROLE_LOGICAL_ID in verdict.principal_arn and verdict.denial is not None
    ]


def _refused_actions(aws: LocalAws) -> set[str]:
    return {verdict.decisions[-1].request.action for verdict in _refusals(aws) if verdict.decisions}


@pytest.mark.parametrize("kms", [False, True], ids=["sse-s3", "sse-kms"])
def test_the_curator_with_its_template_role_curates_the_archivers_archive_into_hook_results(
    aws: LocalAws, archiver: ArchiverHarness, curator: CuratorHarness, kms: bool, request: Any
) -> None:
    if kms:
        request.getfixturevalue("with_kms_key")
    # Given the archiver's real archive of three days
    _archive(aws, archiver)
    raw_rows = archiver.read_archive().num_rows
    assert raw_rows == 30
    # When the curator runs with a session of CuratorRole, every call authorized through the proxy
    report = curator.run()
    # Then hook_results and hook_annotations are the raw archive, and nothing it did was refused
    assert report["rows_written"] == raw_rows
    assert report["objects_added"] == len(archiver.object_keys())
    assert report["annotations"]["objects_added"] == len(archiver.annotation_keys())
    _assert_curated_equals_raw(curator)
    _assert_curated_annotations_equal_raw(curator)
    assert _refusals(aws) == []
    assert all(delivery.delivered for delivery in curator.deliveries), curator.deliveries
    # And a second archiver run's new rows are curated by the next tick, once
    _archive(aws, archiver, seed=2)
    curator.run()
    _assert_curated_equals_raw(curator)
    _assert_curated_annotations_equal_raw(curator)


def test_every_statement_of_the_curator_role_has_a_case() -> None:
    assert set(TEMPLATE_SIDS) == set(REFUSED) | set(SERVICE_SIDE), (
        "CuratorRole's statements changed: give each a case in REFUSED or SERVICE_SIDE"
    )


@pytest.mark.parametrize("sid", TEMPLATE_SIDS)
def test_a_curator_run_without_a_statement_is_refused_and_with_it_back_loses_nothing(
    aws: LocalAws, archiver: ArchiverHarness, curator: CuratorHarness, with_kms_key: str, sid: str
) -> None:
    assert sid in REFUSED or sid in SERVICE_SIDE, f"no case for CuratorRole statement {sid}"
    # Given the archiver's real archive (SSE-KMS), and CuratorRole without one statement
    _archive(aws, archiver)
    curator.documents = curator.role_documents().without(sid)
    if sid in SERVICE_SIDE:
        # When the curator runs, its work does not depend on the statement...
        report = curator.run()
        assert report["rows_written"] == 30
        _assert_curated_equals_raw(curator)
        # ...but the Lambda service's delivery with the role is refused
        refused = [delivery for delivery in curator.deliveries if not delivery.delivered]
        assert {delivery.what for delivery in refused} == {SERVICE_SIDE[sid]}, curator.deliveries
        assert all(d.error_code in {"AccessDenied", "AccessDeniedException"} for d in refused)
    else:
        action, code = REFUSED[sid]
        # When the curator runs, Then it fails with the AWS error code of the refused action
        with pytest.raises(CuratorRunError) as failure:
            curator.run()
        assert code in str(failure.value), (sid, str(failure.value))
        _assert_refused(aws, action)
    # And with the statement back, a run curates the whole archive: nothing lost, nothing doubled
    curator.documents = None
    curator.deliveries.clear()
    _archive(aws, archiver, seed=2)
    curator.run()
    _assert_curated_equals_raw(curator)
    _assert_curated_annotations_equal_raw(curator)
    assert all(delivery.delivered for delivery in curator.deliveries), curator.deliveries


def _assert_refused(aws: LocalAws, action: str) -> None:
    refused = _refused_actions(aws)
    if action == "s3:ListBucket" and "s3:ListBucket" not in refused:
        # Refused inside a HEAD of a missing key: the call's own action was allowed, the 404 was not.
        assert aws.authorizer is not None
        heads = [
            verdict
            for verdict in aws.authorizer.verdicts
            if ROLE_LOGICAL_ID in verdict.principal_arn and verdict.call.operation == "HeadObject"
        ]
        assert heads, "no HeadObject by the curator"
        assert not aws.authorizer.allows_not_found(heads[-1])
        return
    assert refused == {action}, refused


# The statements that serve both tables, each with the annotations' entries (a prefix, a resource) beside
# the results'.
SHARED_SIDS = (
    "ListRawArchive",
    "ReadRawArchive",
    "ListCuratedTable",
    "CuratedTableFiles",
    "CuratedTableCatalog",
)


def _results_only(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement as it was before hook_annotations: every entry naming an annotations path dropped."""

    def keep(values: Any) -> Any:
        if isinstance(values, list):
            kept = [value for value in values if "annotations" not in str(value)]
            assert len(kept) < len(values), "no annotations entry to take away"
            return kept
        return values

    narrowed = {**statement, "Resource": keep(statement["Resource"])}
    if "Condition" in statement:
        like = statement["Condition"]["StringLike"]
        narrowed["Condition"] = {"StringLike": {"s3:prefix": keep(like["s3:prefix"])}}
    assert narrowed != statement
    return narrowed


@pytest.mark.parametrize("sid", SHARED_SIDS)
def test_without_a_statements_annotations_entry_hook_annotations_is_refused_and_hook_results_is_not(
    aws: LocalAws, archiver: ArchiverHarness, curator: CuratorHarness, sid: str
) -> None:
    # Given the archiver's real archive, and CuratorRole with the statement as it was before annotations
    _archive(aws, archiver)
    documents = curator.role_documents()
    curator.documents = documents.replacing(sid, _results_only(documents.statement(sid)))
    # When the curator runs, Then the run fails on the annotations table's refusal...
    action, code = REFUSED[sid]
    with pytest.raises(CuratorRunError, match="annotations") as failure:
        curator.run()
    assert code in str(failure.value), str(failure.value)
    _assert_refused(aws, action)
    # ...and hook_results is curated all the same: one table's refusal does not hold the other back
    _assert_curated_equals_raw(curator)
    # And with the entry back, the next run curates every annotation, once
    curator.documents = None
    curator.run()
    _assert_curated_annotations_equal_raw(curator)
    _assert_curated_equals_raw(curator)
