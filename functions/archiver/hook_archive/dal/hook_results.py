"""CloudFormation ListHookResults / GetHookResult. botocore has no paginator for ListHookResults,
so the NextToken loop lives here, with guards against an API that never stops paging."""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hook_archive.dal.aws_errors import error_code, error_message
from hook_archive.errors import HookResultsError, PaginationError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient


class HookResultsReader:
    def __init__(
        self,
        client: CloudFormationClient | None = None,
        *,
        max_pages: int,
        botocore_config: Config | None = None,
    ) -> None:
        self._client = client or boto3.client("cloudformation", config=botocore_config)
        self._max_pages = max_pages

    def pages(
        self, start_token: str | None = None
    ) -> Generator[tuple[list[Mapping[str, Any]], str | None], None, None]:
        """Yield (HookResults, NextToken) for each page of an unfiltered scan, lazily, from start_token."""
        token: str | None = start_token
        used_tokens: set[bytes] = set()
        page = 0
        while True:
            page += 1
            try:
                response = (
                    self._client.list_hook_results(NextToken=token)
                    if token
                    else self._client.list_hook_results()
                )
            except ClientError as error:
                code = error_code(error)
                raise HookResultsError(
                    f"ListHookResults failed on page {page} after retries: {code}: {error_message(error)}",
                    error_code=code,
                ) from error
            except BotoCoreError as error:
                raise HookResultsError(
                    f"ListHookResults failed on page {page} after retries: {error}"
                ) from error
            token = response.get("NextToken") or None
            yield list(response.get("HookResults", [])), token
            if token is None:
                return
            fingerprint = hashlib.blake2b(token.encode(), digest_size=16).digest()
            if fingerprint in used_tokens:
                raise PaginationError(
                    f"ListHookResults returned a NextToken it had already returned (page {page})"
                )
            used_tokens.add(fingerprint)
            if page >= self._max_pages:
                raise PaginationError(
                    f"ListHookResults still paging after MAX_PAGES_PER_RUN={self._max_pages}"
                )

    def get_hook_result(self, hook_result_id: str) -> Mapping[str, Any]:
        try:
            return dict(self._client.get_hook_result(HookResultId=hook_result_id))
        except ClientError as error:
            code = error_code(error)
            raise HookResultsError(
                f"GetHookResult {hook_result_id} failed: {code}", error_code=code
            ) from error
        except BotoCoreError as error:
            raise HookResultsError(f"GetHookResult {hook_result_id} failed: {error}") from error
