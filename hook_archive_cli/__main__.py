"""``cfn-hook-archive``, the operators' command line: ``preflight`` checks an account before sam deploy;
``status`` shows where each archiver stands; ``verify`` compares the live API with the archive; ``query``
runs a named query on Athena or over a local copy; ``report`` writes an HTML report with charts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# The package's required dependencies are the function's (pinned to its layer); the CLI's own are the `cli`
# extra. Without them, say how to install it rather than fail with a traceback.
try:
    import rich  # noqa: F401
    import yaml  # noqa: F401
except ModuleNotFoundError as missing:
    sys.exit(
        f"cfn-hook-archive: {missing.name} is not installed: install the CLI with its cli extra, "
        "e.g. pip install 'PATH[cli]' for the wheel or a checkout, or uv sync --extra cli in a clone"
    )

import boto3
from botocore.exceptions import ProfileNotFound

from hook_archive_cli import report
from hook_archive_cli.account_reads import read_account
from hook_archive_cli.commands import add_commands
from hook_archive_cli.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from hook_archive_cli.local_tools import read_local_tools
from hook_archive_cli.parameters import (
    SAMCONFIG_FILE,
    TEMPLATE_FILE,
    DeployParameters,
    ParameterError,
    parse_overrides,
    read_samconfig,
    resolve,
    template_parameters,
)
from hook_archive_cli.preflight import evaluate, failed

EXIT_PASSED = EXIT_OK
EXIT_FAILED = EXIT_FINDINGS  # a check failed
# EXIT_USAGE: preflight could not run: bad arguments, parameters or profile (argparse uses 2 too)

PREFLIGHT_DESCRIPTION = """\
Check an AWS account, the deploy parameters and this machine before `sam deploy`, with your own
credentials. Only read calls are made (Get, List, Describe); nothing in the account changes.
Parameter values come from the template's defaults, then samconfig.toml's parameter_overrides,
then --parameter-overrides. Exit status: 0 when nothing failed (warnings allowed), 1 when a check
failed, 2 when preflight could not run."""


def _fail_usage(message: str) -> int:
    print(f"cfn-hook-archive preflight: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_preflight(args: argparse.Namespace) -> int:
    template = Path(args.template_file)
    config_path = Path(args.config_file) if args.config_file else template.parent / SAMCONFIG_FILE
    try:
        declared = template_parameters(template)
        samconfig = read_samconfig(config_path, args.config_env, required=args.config_file is not None)
        overrides = parse_overrides(args.parameter_overrides, source="--parameter-overrides")
        values = resolve(
            declared,
            [
                (f"{config_path} parameter_overrides", samconfig.parameter_overrides),
                ("--parameter-overrides", overrides),
            ],
        )
        session = boto3.Session(
            profile_name=args.profile or samconfig.profile, region_name=args.region or samconfig.region
        )
        region = session.region_name
        if not region:
            return _fail_usage(
                "no region: pass --region, set AWS_DEFAULT_REGION, or give the profile a region"
            )
        params = DeployParameters.from_values(values, stack_region=region, template=str(template))
    except (ParameterError, ProfileNotFound) as error:
        return _fail_usage(str(error))
    rows = evaluate(read_account(session, params), read_local_tools(), params)
    if args.json:
        print(report.as_json(rows, region=region, template=str(template)))
    else:
        print(report.table(rows, heading=f"cfn-hook-archive preflight: region {region}, template {template}"))
    return EXIT_FAILED if failed(rows) else EXIT_PASSED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cfn-hook-archive",
        description="Operate cfn-hook-archive: the CloudFormation Hook results archive.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    preflight = commands.add_parser(
        "preflight",
        help="check an account, the deploy parameters and this machine before sam deploy (read-only)",
        description=PREFLIGHT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    preflight.add_argument(
        "--region", help="the region to deploy to (default: samconfig, then boto3's chain)"
    )
    preflight.add_argument(
        "--profile", help="the AWS profile to use (default: samconfig, then boto3's chain)"
    )
    preflight.add_argument(
        "--template-file", default=TEMPLATE_FILE, help=f"the SAM template (default: {TEMPLATE_FILE})"
    )
    preflight.add_argument(
        "--config-file", help=f"the samconfig file (default: {SAMCONFIG_FILE} beside the template, if any)"
    )
    preflight.add_argument(
        "--config-env", default="default", help="the samconfig environment (default: default)"
    )
    preflight.add_argument(
        "--parameter-overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="parameter values as sam deploy takes them; they win over samconfig.toml",
    )
    preflight.add_argument("--json", action="store_true", help="print the rows as JSON")
    preflight.set_defaults(run=run_preflight)
    add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
