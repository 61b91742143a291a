"""Where checkpoints live: `<prefix>/_state/<account>/<region>/checkpoint.json`, as the archiver writes
them (hook_archive/logic/partitioning.py checkpoint_key). Everything else under `_state/` (known-ids
objects) is not a checkpoint."""

from __future__ import annotations

CHECKPOINT_NAME = "checkpoint.json"


def state_prefix(archive_prefix: str) -> str:
    return f"{archive_prefix}/_state/"


def account_region_of(archive_prefix: str, key: str) -> tuple[str, str] | None:
    """The account and region a checkpoint key names, or None for any other key under the prefix."""
    prefix = state_prefix(archive_prefix)
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix) :].split("/")
    if len(parts) != 3 or parts[2] != CHECKPOINT_NAME or not parts[0] or not parts[1]:  # noqa: PLR2004
        return None
    return parts[0], parts[1]
