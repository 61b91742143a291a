"""What stops a command before it can report, each with the exit status it ends with.

The exit statuses are the same for every command:

- 0: the command ran and found nothing wrong;
- 1: the command ran and found something wrong (a stale archiver, a discrepancy, a failed check);
- 2: the command could not run: bad arguments or configuration (no region, an unknown profile, a missing
  stack, a bucket that does not exist);
- 3: AWS refused or could not be reached: no or bad credentials, access denied, a network error.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2  # argparse exits with 2 on bad arguments too
EXIT_AWS = 3
EXIT_BUSY = 4  # verify --repair only: a scheduled archiving run holds the checkpoint lease; try again later

EXIT_STATUS_HELP = (
    "Exit status: 0 nothing wrong; 1 {findings}; 2 could not run (bad arguments, no region, unknown profile, "
    "missing stack or bucket); 3 AWS refused or could not be reached (credentials, access denied, network)."
)


class CliError(Exception):
    """A command cannot go on; the message says what to change."""

    exit_status = EXIT_USAGE


class UsageError(CliError):
    """Bad arguments or configuration: nothing AWS said is wrong with the caller's access."""

    exit_status = EXIT_USAGE


class AwsAccessError(CliError):
    """AWS refused the caller (credentials, permissions) or could not be reached."""

    exit_status = EXIT_AWS

    def __init__(self, message: str, *, error_code: str) -> None:
        super().__init__(message)
        self.error_code = error_code
