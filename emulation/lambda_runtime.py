"""Invoke a function of template.yaml in-process, the way Lambda would (sam local invoke needs Docker).

It reads the handler, code location, timeout and environment variable names from the template, sets the
environment, imports the handler fresh (a cold start, so configuration is validated as in Lambda), and
calls it with an event from events/ and a context that carries a real time budget.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

from emulation.cfn_stack import Stack

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "template.yaml"
PROCESS_STATE_MODULES = ("hook_archive.dal.aws_dependencies",)


class _TemplateLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form intrinsics (!Ref, !Sub, ...) as plain mappings."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]  # a MappingNode here
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as handle:
        document = yaml.load(handle, Loader=_TemplateLoader)  # noqa: S506  # SafeLoader subclass
    if not isinstance(document, dict):
        raise TypeError(f"{path} is not a template")
    return document


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    code_dir: Path
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, Any]  # literal values as strings; intrinsics left as mappings
    template: dict[str, Any]  # the whole template, to resolve intrinsics as a deployment would

    @property
    def module_name(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def function_spec(
    logical_id: str = "ArchiverFunction", template: Mapping[str, Any] | None = None
) -> FunctionSpec:
    document = template or load_template()
    resource = document["Resources"][logical_id]
    properties = resource["Properties"]
    globals_ = document.get("Globals", {}).get("Function", {})
    variables = properties.get("Environment", {}).get("Variables", {})
    return FunctionSpec(
        logical_id=logical_id,
        handler=properties["Handler"],
        code_dir=(REPO_ROOT / properties["CodeUri"]).resolve(),
        timeout_seconds=int(properties.get("Timeout", globals_.get("Timeout", 3))),
        memory_mb=int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
        environment=dict(variables),
        template=dict(document),
    )


def resolved_environment(
    spec: FunctionSpec, values: Mapping[str, str], *, stack: Stack | None = None
) -> dict[str, str]:
    """The template's variables: `values` first, then each declared value with its intrinsics resolved as
    `stack` (a deployment of the template; by default its parameter defaults) would resolve them."""
    deployment = stack or Stack(spec.template)
    environment: dict[str, str] = {}
    for name, value in spec.environment.items():
        if name in values:
            environment[name] = values[name]
            continue
        resolved = deployment.resolve(value)
        if not isinstance(resolved, str | int | float | bool) or (
            isinstance(resolved, str) and resolved.startswith("<")
        ):
            raise KeyError(
                f"{spec.logical_id}: environment variable {name} is {value!r}, which resolves to "
                f"{resolved!r}; give it a value or a physical id"
            )
        environment[name] = str(resolved).lower() if isinstance(resolved, bool) else str(resolved)
    unknown = set(values) - set(spec.environment)
    if unknown:
        raise KeyError(
            f"{spec.logical_id} declares no environment variable(s) {sorted(unknown)} in template.yaml"
        )
    return environment


class LambdaContext:
    """The attributes of the Python Lambda runtime's context that the handler uses."""

    def __init__(
        self, *, function_name: str, memory_mb: int, timeout_seconds: float, region: str, account_id: str
    ):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextmanager
def environment_variables(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def add_code_to_path(spec: FunctionSpec) -> None:
    if str(spec.code_dir) not in sys.path:
        sys.path.insert(0, str(spec.code_dir))


class _ProcessCredentials:
    """The credentials the process's boto3 session was made with: a new execution environment (another
    deployment's role session) must not inherit them, while runs of one deployment share the loaded models
    as a warm process would."""

    def __init__(self) -> None:
        self.key: tuple[str | None, str | None] | None = None


_PROCESS = _ProcessCredentials()


def forget_process_state(environment: Mapping[str, str]) -> None:
    """Drop the module that keeps the process's boto3 session when `environment` holds other credentials.
    The handler module (config, clients) goes at each cold start anyway; the other modules are stateless
    and keep their class identities."""
    key = (environment.get("AWS_ACCESS_KEY_ID"), environment.get("AWS_SESSION_TOKEN"))
    if key == _PROCESS.key:
        return
    for name in PROCESS_STATE_MODULES:
        sys.modules.pop(name, None)
    # boto3's default session (boto3.client(...), as fleet health makes its client) keeps the credentials
    # it first found: a new execution environment starts without it.
    boto3.DEFAULT_SESSION = None
    _PROCESS.key = key


def cold_start(spec: FunctionSpec, environment: Mapping[str, str]) -> Any:
    """Import the handler module afresh under `environment`; return the handler function."""
    add_code_to_path(spec)
    sys.modules.pop(spec.module_name, None)
    forget_process_state(environment)
    with environment_variables(environment):
        module = importlib.import_module(spec.module_name)
    return getattr(module, spec.function_name)


def invoke(
    spec: FunctionSpec,
    event: Mapping[str, Any],
    *,
    environment: Mapping[str, str],
    account_id: str,
    timeout_seconds: float | None = None,
    **handler_kwargs: Any,
) -> Any:
    """Cold-start the function and invoke it once with `event`; return what the handler returns."""
    handler = cold_start(spec, environment)
    context = LambdaContext(
        function_name=spec.logical_id,
        memory_mb=spec.memory_mb,
        timeout_seconds=timeout_seconds if timeout_seconds is not None else spec.timeout_seconds,
        region=environment.get("AWS_REGION", "us-east-1"),
        account_id=account_id,
    )
    with environment_variables(environment):
        return handler(dict(event), context, **handler_kwargs)


def load_event(name: str) -> dict[str, Any]:
    document = json.loads((REPO_ROOT / "events" / name).read_text())
    if not isinstance(document, dict):
        raise TypeError(f"events/{name} is not a JSON object")
    return document
