"""What a botocore ClientError says, read one way by every adapter: errors are matched by code, never text."""

from __future__ import annotations

from botocore.exceptions import ClientError

# A conditional write (If-Match / If-None-Match) lost to another writer.
S3_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
# GetObject on a missing key: NoSuchKey, or the bare status where S3 sends no body.
S3_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404"})


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "Unknown")


def error_message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message", "")
