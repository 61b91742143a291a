"""The local stack speaks HTTPS, as AWS does, so the template's TLS-only bucket policy is evaluated on what
the wire really is (emulation/tls.py)."""

from __future__ import annotations

import pytest

from emulation.archiver_harness import ArchiverHarness
from emulation.aws_stack import local_aws
from tests.integration.conftest import seed_history


def test_the_templates_tls_only_bucket_policy_refuses_the_function_over_plain_http() -> None:
    # The local stack serves HTTPS as AWS does; over plain HTTP, aws:SecureTransport is "false" and the
    # DenyInsecureTransport statement ArchiveBucketPolicy deploys refuses every call, role or not.
    with local_aws(page_size=25, tls=False) as aws:
        archiver = ArchiverHarness(aws)
        seed_history(aws, days=1, per_day=5)
        with pytest.raises(Exception, match="AccessDenied") as refused:
            archiver.run()
        assert aws.authorizer is not None
        denials = [v.denial for v in aws.authorizer.verdicts if v.denial is not None]
        assert denials
        assert "explicit deny in a resource-based policy" in denials[0].message
        assert "reading checkpoint" in str(refused.value)
