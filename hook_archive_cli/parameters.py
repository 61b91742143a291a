"""The deploy parameters, resolved the way ``sam deploy`` resolves them: the template's defaults, then
``parameter_overrides`` in samconfig.toml, then ``--parameter-overrides`` (the last one wins)."""

from __future__ import annotations

import math
import re
import shlex
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_FILE = "template.yaml"
SAMCONFIG_FILE = "samconfig.toml"
# What the checks read. A template that lacks one is older (or newer) than this CLI: say so, do not guess.
CHECKED_PARAMETERS = (
    "ExistingArchiveBucketName",
    "ArchiveBucketRegion",
    "KmsKeyArn",
    "HookResultsKmsKeyArn",
    "AthenaResultsKmsKeyArn",
    "EventBusName",
    "ReservedConcurrency",
)
# sam deploy also takes CloudFormation's own long form.
_NAME_THEN_VALUE = re.compile(r"[A-Za-z0-9]+=")
_LONG_FORM = re.compile(r"ParameterKey=(?P<key>[^,]*),ParameterValue=(?P<value>.*)", re.DOTALL)


class ParameterError(ValueError):
    """The parameters cannot be resolved; the message says what to change."""


@dataclass(frozen=True)
class TemplateParameter:
    name: str
    type: str
    default: str | None  # as CloudFormation sees it: a string, or None when the template gives none


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsics (!Ref, !Sub, !If, ...) as plain {tag: value}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]  # a MappingNode
    return {f"!{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def _as_parameter_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def template_parameters(path: Path) -> dict[str, TemplateParameter]:
    """The Parameters section of a SAM/CloudFormation template."""
    try:
        with path.open(encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=_TemplateLoader)  # noqa: S506  # a SafeLoader subclass
    except FileNotFoundError:
        raise ParameterError(
            f"{path} not found: run from the project directory or pass --template-file"
        ) from None
    except yaml.YAMLError as error:
        raise ParameterError(f"{path} is not valid YAML: {error}") from None
    declared = document.get("Parameters") if isinstance(document, dict) else None
    if not isinstance(declared, dict):
        raise ParameterError(f"{path} declares no Parameters")
    parameters: dict[str, TemplateParameter] = {}
    for name, spec in declared.items():
        if not isinstance(spec, dict):
            raise ParameterError(f"{path}: parameter {name} is not a mapping")
        default = spec.get("Default")
        parameters[str(name)] = TemplateParameter(
            name=str(name),
            type=str(spec.get("Type", "String")),
            default=None if default is None else _as_parameter_value(default),
        )
    return parameters


def parse_overrides(tokens: Iterable[str], *, source: str) -> dict[str, str]:
    """``Key=Value`` pairs (shell-quoted, several per token allowed) or
    ``ParameterKey=Key,ParameterValue=Value``, as ``sam deploy --parameter-overrides`` takes them."""
    values: dict[str, str] = {}
    for token in tokens:
        try:
            pieces = shlex.split(token)
        except ValueError as error:
            raise ParameterError(f"{source}: cannot parse {token!r}: {error}") from None
        if not all("=" in piece for piece in pieces) and _NAME_THEN_VALUE.match(token):
            pieces = [token]  # one pair whose value has spaces, as a shell passes Key="a b"
        for piece in pieces:
            long_form = _LONG_FORM.fullmatch(piece)
            if long_form is not None:
                key, value = long_form["key"], long_form["value"]
            elif "=" in piece:
                key, value = piece.split("=", 1)
            else:
                raise ParameterError(f"{source}: {piece!r} is not Key=Value")
            if not key:
                raise ParameterError(f"{source}: {piece!r} has no parameter name")
            values[key] = value
    return values


@dataclass(frozen=True)
class SamConfig:
    """What ``sam deploy`` would take from samconfig.toml for one config environment."""

    path: Path
    parameter_overrides: dict[str, str]
    region: str | None
    profile: str | None


def read_samconfig(path: Path, environment: str = "default", *, required: bool = False) -> SamConfig:
    """``[<env>.global.parameters]`` then ``[<env>.deploy.parameters]`` (deploy wins), as sam merges them."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ParameterError(f"{path} not found") from None
        return SamConfig(path, {}, None, None)
    except tomllib.TOMLDecodeError as error:
        raise ParameterError(f"{path} is not valid TOML: {error}") from None
    settings: dict[str, Any] = {}
    sections = document.get(environment, {})
    for command in ("global", "deploy"):
        section = sections.get(command, {}).get("parameters", {}) if isinstance(sections, dict) else {}
        if isinstance(section, dict):
            settings.update(section)
    raw = settings.get("parameter_overrides", [])
    tokens: Sequence[Any] = [raw] if isinstance(raw, str) else raw
    if not isinstance(tokens, list | tuple) or not all(isinstance(token, str) for token in tokens):
        raise ParameterError(f"{path}: parameter_overrides must be a string or a list of strings")
    source = f"{path} [{environment}.deploy.parameters] parameter_overrides"
    region, profile = settings.get("region"), settings.get("profile")
    return SamConfig(
        path=path,
        parameter_overrides=parse_overrides(tokens, source=source),
        region=region if isinstance(region, str) and region else None,
        profile=profile if isinstance(profile, str) and profile else None,
    )


def resolve(
    declared: Mapping[str, TemplateParameter], layers: Sequence[tuple[str, Mapping[str, str]]]
) -> dict[str, str]:
    """Every declared parameter's value: its default, overridden by each layer in turn."""
    for source, overrides in layers:
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise ParameterError(
                f"{source}: unknown parameter(s) {', '.join(unknown)}; the template declares "
                f"{', '.join(sorted(declared))}"
            )
    values = {name: spec.default for name, spec in declared.items()}
    for _source, overrides in layers:
        values.update(overrides)
    missing = sorted(name for name, value in values.items() if value is None)
    if missing:
        raise ParameterError(f"no value for parameter(s) {', '.join(missing)} (the template has no default)")
    resolved = {name: value for name, value in values.items() if value is not None}
    for name, spec in declared.items():
        if spec.type == "Number" and not _is_number(resolved[name]):
            raise ParameterError(f"parameter {name} is a Number, got {resolved[name]!r}")
    return resolved


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


@dataclass(frozen=True)
class DeployParameters:
    """The values preflight checks, plus the region the stack will be deployed to."""

    stack_region: str
    existing_archive_bucket: str
    archive_bucket_region: str  # empty: the stack's region
    kms_key_arn: str
    hook_results_kms_key_arn: str
    athena_results_kms_key_arn: str
    event_bus_name: str
    reserved_concurrency: int  # 0: no reserved concurrency

    @property
    def archive_region(self) -> str:
        """Where the archive bucket is (or will be) and so where KmsKeyArn must live."""
        return self.archive_bucket_region or self.stack_region

    @property
    def kms_key_parameters(self) -> dict[str, str]:
        return {
            "KmsKeyArn": self.kms_key_arn,
            "HookResultsKmsKeyArn": self.hook_results_kms_key_arn,
            "AthenaResultsKmsKeyArn": self.athena_results_kms_key_arn,
        }

    @classmethod
    def from_values(cls, values: Mapping[str, str], *, stack_region: str, template: str) -> DeployParameters:
        missing = [name for name in CHECKED_PARAMETERS if name not in values]
        if missing:
            raise ParameterError(
                f"{template} declares no parameter(s) {', '.join(missing)}, which preflight checks: "
                "the template and this CLI are from different versions"
            )
        reserved = values["ReservedConcurrency"]
        if not reserved.isdigit():
            raise ParameterError(f"ReservedConcurrency must be a whole number (0: none), got {reserved!r}")
        return cls(
            stack_region=stack_region,
            existing_archive_bucket=values["ExistingArchiveBucketName"],
            archive_bucket_region=values["ArchiveBucketRegion"],
            kms_key_arn=values["KmsKeyArn"],
            hook_results_kms_key_arn=values["HookResultsKmsKeyArn"],
            athena_results_kms_key_arn=values["AthenaResultsKmsKeyArn"],
            event_bus_name=values["EventBusName"],
            reserved_concurrency=int(reserved),
        )
