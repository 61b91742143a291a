"""What preflight learned from the account and the machine, before any judgement.

The adapters (``account_reads``, ``local_tools``) produce these; the checks in ``preflight`` only read them.
A call that did not answer is an :class:`ApiError` in place of its fact, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The codes AWS answers an unauthorized call with, by protocol (query, JSON, REST-JSON, EC2-style).
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "AuthorizationError", "UnauthorizedOperation"}
)


def one_line(text: str) -> str:
    """A table cell: whitespace (newlines included) collapsed to single spaces."""
    return " ".join(text.split())


@dataclass(frozen=True)
class ApiError:
    """A read that did not answer: the error code AWS returned, or the client's own failure."""

    operation: str
    code: str
    message: str

    @property
    def access_denied(self) -> bool:
        return self.code in ACCESS_DENIED_CODES

    def describe(self) -> str:
        message = one_line(self.message)
        return f"{self.operation}: {self.code}" + (f": {message}" if message else "")


@dataclass(frozen=True)
class CallerIdentity:
    arn: str
    account: str


@dataclass(frozen=True)
class HookResultsPage:
    """The first page of an unfiltered ListHookResults."""

    results: int
    more_pages: bool


@dataclass(frozen=True)
class HookType:
    """A hook type registered or activated in the region, with its default configuration's JSON
    (``None``: never configured)."""

    type_name: str
    type_arn: str
    configuration: str | ApiError | None


@dataclass(frozen=True)
class ConcurrencyQuota:
    """lambda:GetAccountSettings' AccountLimit."""

    concurrent_executions: int
    unreserved_concurrent_executions: int


@dataclass(frozen=True)
class DefaultEncryption:
    """A bucket's default encryption rule."""

    algorithm: str  # AES256 | aws:kms | aws:kms:dsse
    kms_key: str | None  # KMSMasterKeyID as configured: key id, key ARN, alias name or alias ARN
    kms_key_arn: str | None  # kms_key resolved to its key ARN, when it could be


@dataclass(frozen=True)
class ArchiveBucket:
    """An existing bucket named by ExistingArchiveBucketName."""

    name: str
    region: str | ApiError
    versioning: str | ApiError | None  # Enabled | Suspended; None: never enabled
    ownership: str | ApiError | None  # ObjectOwnership; None: the bucket has no ownership controls
    encryption: DefaultEncryption | ApiError | None  # None: no configuration (S3 then applies SSE-S3)


@dataclass(frozen=True)
class KmsKey:
    """kms:DescribeKey's KeyMetadata."""

    arn: str
    enabled: bool
    key_state: str
    key_spec: str | None  # None: not reported
    key_usage: str | None


@dataclass(frozen=True)
class EventBus:
    name: str
    arn: str


@dataclass(frozen=True)
class AccountFacts:
    region: str
    identity: CallerIdentity | ApiError
    hook_results: HookResultsPage | ApiError
    hook_types: tuple[HookType, ...] | ApiError
    concurrency: ConcurrencyQuota | ApiError
    archive_bucket: ArchiveBucket | None  # None: the stack creates its own bucket
    kms_keys: Mapping[str, KmsKey | ApiError]  # by the ARN a parameter names (well-formed ARNs only)
    event_bus: EventBus | ApiError


@dataclass(frozen=True)
class LocalTool:
    """A command looked up on PATH and asked for its version."""

    command: str
    path: str | None  # None: not on PATH
    version: str | None  # first line of its --version output
    problem: str | None = None  # it is there but did not answer


@dataclass(frozen=True)
class LocalFacts:
    sam: LocalTool
    python: LocalTool
