"""MAX_ANNOTATIONS_DUE and ANNOTATION_FETCH_ATTEMPTS: parsed and bounded at cold start, and handed to the run
(logic/run_settings.py). What each changes in a run: tests/functional/test_annotation_catch_up.py."""

from __future__ import annotations

import pytest

from hook_archive.errors import ConfigError
from hook_archive.logic.run_settings import settings_for
from hook_archive.models.checkpoint import AnnotationDue, Checkpoint
from hook_archive.models.config import ArchiverConfig

VALID_ENV = {"AWS_REGION": "eu-west-1", "ARCHIVE_BUCKET": "my-hook-archive"}
# The longest hook type name CloudFormation allows: three 64-character parts (Org::Service::Hook).
LONGEST_TYPE_NAME = "::".join(["A" * 64] * 3)


def test_the_defaults_reach_the_run_settings() -> None:
    config = ArchiverConfig.from_environ(VALID_ENV)
    assert (config.max_annotations_due, config.annotation_fetch_attempts) == (10_000, 5)
    settings = settings_for(config, "123456789012")
    assert (settings.max_annotations_due, settings.max_enrichment_attempts) == (10_000, 5)


@pytest.mark.parametrize(
    ("due", "attempts"), [("0", "1"), ("100000", "50"), ("250", "2")], ids=["lowest", "highest", "between"]
)
def test_values_within_the_bounds_reach_the_run_settings(due: str, attempts: str) -> None:
    config = ArchiverConfig.from_environ(
        {**VALID_ENV, "MAX_ANNOTATIONS_DUE": due, "ANNOTATION_FETCH_ATTEMPTS": attempts}
    )
    settings = settings_for(config, "123456789012")
    assert (settings.max_annotations_due, settings.max_enrichment_attempts) == (int(due), int(attempts))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_ANNOTATIONS_DUE", "-1"),
        ("MAX_ANNOTATIONS_DUE", "100001"),
        ("MAX_ANNOTATIONS_DUE", "ten thousand"),
        ("MAX_ANNOTATIONS_DUE", ""),
        ("ANNOTATION_FETCH_ATTEMPTS", "0"),
        ("ANNOTATION_FETCH_ATTEMPTS", "51"),
        ("ANNOTATION_FETCH_ATTEMPTS", "2.5"),
    ],
)
def test_a_bad_catch_up_limit_fails_the_cold_start_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable) as raised:
        ArchiverConfig.from_environ({**VALID_ENV, variable: value})
    assert f"(got {value!r})" in str(raised.value)


def test_a_list_at_the_ceiling_stays_a_checkpoint_a_run_can_read_and_write() -> None:
    # The ceiling's comment in models/config.py rests on these sizes: keep them true.
    ceiling = ArchiverConfig.model_fields["max_annotations_due"].metadata
    highest = next(rule.le for rule in ceiling if hasattr(rule, "le"))
    empty = Checkpoint(account_id="123456789012", region="us-east-1")
    entry = AnnotationDue(
        hook_result_id="0b3c7a4e-5f1d-4c2b-9a8e-7d6f5e4c3b2a",
        type_name=LONGEST_TYPE_NAME,
        dt="2026-11-27",
        invoked_at_ms=1_796_000_000_000,
        attempts=49,
    )
    one = empty.model_copy(update={"annotations_due": [entry]})
    per_entry = len(one.to_json_bytes()) - len(empty.to_json_bytes())
    assert per_entry <= 330
    assert highest * per_entry <= 33 * 1024 * 1024
