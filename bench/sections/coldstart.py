"""4. Cold start and artefact size: import time of the handler from the built artefact on Python 3.13, with
and without compiled bytecode, and the unzipped size of function plus layers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plan import REPO_ROOT, Plan
from bench.report import Section, median

HANDLER_MODULE = "hook_archive.handlers.archive_run"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")  # pip does not widen --platform by itself
CACHE = Path(tempfile.gettempdir()) / "cfn-hook-archive-bench"
IMPORT_TARGET_MS = 300.0
HALF = 0.5  # a part of the build "has bytecode" when most of its .py files do
SIZE_TARGET_MB = 120.0

BODY = """
import os, time
started = time.perf_counter()
from aws_lambda_powertools import Logger, Metrics, Tracer
from hook_archive.dal.aws_dependencies import AwsClients
from hook_archive.models.config import ArchiverConfig
import hook_archive.logic.archive_run, hook_archive.models.run_report, hook_archive.errors
marks = [("imports (every module the handler imports)", time.perf_counter())]
Logger(); Metrics()
marks.append(("Powertools Logger() + Metrics()", time.perf_counter()))
Tracer()
marks.append(("Powertools Tracer() (creates the X-Ray recorder)", time.perf_counter()))
config = ArchiverConfig.from_environ(os.environ)
marks.append(("ArchiverConfig.from_environ", time.perf_counter()))
AwsClients.create(config)
marks.append(("AwsClients.create (cloudformation, s3, events)", time.perf_counter()))
previous = started
for name, moment in marks:
    print(f"{name}\t{(moment - previous) * 1000:.1f}")
    previous = moment
"""

TIMER = """
import importlib, time
started = time.perf_counter()
importlib.import_module("hook_archive.handlers.archive_run")
print(time.perf_counter() - started)
"""


def python313() -> str:
    """pyenv's 3.13.0 (what the Makefile uses), else python3.13 on PATH."""
    try:
        prefix = subprocess.run(
            ["pyenv", "prefix", "3.13.0"],  # noqa: S607  # read only
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        candidate = Path(prefix) / "bin" / "python3.13"
        if candidate.exists():
            return str(candidate)
    except (OSError, subprocess.CalledProcessError):
        pass
    found = shutil.which("python3.13")
    if found is None:
        raise RuntimeError("no Python 3.13 found (pyenv 3.13.0 or python3.13 on PATH)")
    return found


def runtime_dependencies() -> list[str]:
    document = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return list(document["project"]["dependencies"])


def build_dependencies_layer(python: str) -> Path:
    """pip install the runtime dependencies for Lambda's platform, without bytecode (as sam build's pip
    workflow extracts wheels without compiling); cached by the dependency list."""
    dependencies = runtime_dependencies()
    digest = hashlib.sha256(json.dumps([dependencies, PLATFORMS]).encode()).hexdigest()[:16]
    target = CACHE / f"layer-{digest}" / "python"
    if (target.parent / ".complete").exists():
        return target
    shutil.rmtree(target.parent, ignore_errors=True)
    target.mkdir(parents=True)
    command = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += [
        "--only-binary=:all:",
        "--python-version",
        "3.13",
        "--implementation",
        "cp",
        "--target",
        str(target),
        *dependencies,
    ]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603  # our interpreter, our list
    (target.parent / ".complete").write_text("\n".join(dependencies))
    return target


@dataclass(frozen=True)
class Build:
    label: str
    function_dir: Path
    layers: list[Path]  # the python/ folders Lambda mounts at /opt/python
    architecture: str  # x86_64 | aarch64 | unknown


def _architecture(layers: list[Path]) -> str:
    for layer in layers:
        for library in (layer / "pyarrow").glob("lib.cpython-*.so"):
            return (
                "aarch64"
                if "aarch64" in library.name
                else "x86_64"
                if "x86_64" in library.name
                else "unknown"
            )
    return "unknown"


def sam_builds() -> list[Build]:
    """`sam build` outputs present in the checkout: .aws-sam/build (the template's architecture) and
    .aws-sam/x86_64/build (`make build-x86_64`)."""
    builds = []
    for label, build in (
        ("`.aws-sam/build`", REPO_ROOT / ".aws-sam" / "build"),
        ("`.aws-sam/x86_64/build`", REPO_ROOT / ".aws-sam" / "x86_64" / "build"),
    ):
        functions = sorted(p.parents[2] for p in build.glob("*/hook_archive/handlers/archive_run.py"))
        if not functions:
            continue
        # The archiver's own layer (the build also holds the curator's, which it does not use).
        layers = sorted(p for p in build.glob("DependenciesLayer*/python") if p.is_dir())
        builds.append(Build(label, functions[0], layers, _architecture(layers)))
    return builds


def tree_bytes(paths: Iterable[Path], *, bytecode: bool = True) -> int:
    total = 0
    for root in paths:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                if not bytecode and (path.suffix == ".pyc" or "__pycache__" in path.parts):
                    continue
                total += path.stat().st_size
    return total


def strip_bytecode(root: Path) -> None:
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for pyc in root.rglob("*.pyc"):
        pyc.unlink()


def compile_bytecode(python: str, root: Path) -> None:
    subprocess.run(  # noqa: S603
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(root)],
        check=False,  # a test file that does not compile must not stop the others
        capture_output=True,
    )


def lambda_environment(function_dir: Path, python_path: list[Path], extra: dict[str, str]) -> dict[str, str]:
    """What Lambda sets at init, plus the template's variables the config needs to validate."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "PYTHONPATH": os.pathsep.join(str(p) for p in python_path),
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task and /opt are read-only in Lambda
        "LAMBDA_TASK_ROOT": str(function_dir),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "ArchiverFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "ARCHIVE_BUCKET": "hook-archive-bench",
        "ARCHIVE_PREFIX": "hook-results",
        "EVENT_BUS_NAME": "default",
        "EVENT_SOURCE": "cfn-hook-archive",
        "POWERTOOLS_SERVICE_NAME": "cfn-hook-archive",
        "POWERTOOLS_METRICS_NAMESPACE": "CfnHookArchive",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        **extra,
    }


def _python(
    python: str, code: str, environment: dict[str, str], *flags: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [python, "-s", *flags, "-c", code], env=environment, capture_output=True, text=True, check=False
    )


def time_import(python: str, environment: dict[str, str], reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        done = _python(python, TIMER, environment)
        if done.returncode != 0:
            raise RuntimeError(f"import failed: {done.stderr[-2000:]}")
        times.append(float(done.stdout.strip().splitlines()[-1]) * 1000)
    return times


def module_body(python: str, environment: dict[str, str], reps: int) -> dict[str, float]:
    """Median ms of each step of the handler module's body (imports, Powertools objects, config, clients)."""
    steps: dict[str, list[float]] = {}
    for _ in range(reps):
        done = _python(python, BODY, environment)
        if done.returncode != 0:
            return {}
        for line in done.stdout.strip().splitlines():
            name, _, ms = line.rpartition("\t")
            steps.setdefault(name, []).append(float(ms))
    return {name: median(values) for name, values in steps.items()}


def import_breakdown(python: str, environment: dict[str, str]) -> list[tuple[str, float, float]]:
    """-X importtime: (top-level package, self ms, cumulative ms of its first import), biggest first."""
    done = _python(python, f"import {HANDLER_MODULE}", environment, "-X", "importtime")
    packages: dict[str, list[float]] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        module = name.strip()
        package = module.split(".")[0]
        entry = packages.setdefault(package, [0.0, 0.0])
        entry[0] += int(self_us) / 1000
        if module == package:  # the package's own import line: everything its first import pulled in
            entry[1] = max(entry[1], int(cumulative_us) / 1000)
    rows = [(name, values[0], values[1]) for name, values in packages.items()]
    return sorted(rows, key=lambda row: row[1], reverse=True)


def _host_architecture() -> str:
    import platform  # noqa: PLC0415

    machine = platform.machine().lower()
    return "aarch64" if machine in {"aarch64", "arm64"} else machine


def _compiled(root: Path) -> tuple[int, int]:
    sources = list(root.rglob("*.py"))
    compiled = {p.parent.parent / (p.name.split(".")[0] + ".py") for p in root.rglob("__pycache__/*.pyc")}
    return sum(1 for p in sources if p in compiled), len(sources)


def _compiled_shares(build: Build) -> tuple[float, float]:
    have, total = _compiled(build.function_dir)
    layer = [_compiled(root) for root in build.layers]
    layer_have, layer_total = sum(h for h, _ in layer), sum(t for _, t in layer)
    return have / max(1, total), layer_have / max(1, layer_total)


def _bytecode_state(build: Build) -> str:
    have, total = _compiled(build.function_dir)
    layer = [_compiled(root) for root in build.layers]
    layer_have, layer_total = sum(h for h, _ in layer), sum(t for _, t in layer)
    return (
        f"{have}/{total} of the function's .py files and {layer_have}/{layer_total} of the layer's "
        "have bytecode"
    )


def run(plan: Plan, workdir: Path, shared: dict[str, dict[str, Any]]) -> Section:
    del shared
    section = Section("4", "Cold start and artefact size")
    python = python313()
    version = subprocess.run([python, "-V"], capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603
    host = _host_architecture()
    builds = sam_builds()
    importable = next((b for b in builds if b.architecture == host), None)
    if importable is None:
        print(
            "  [4] no sam build for this architecture: building an equivalent (pip, Lambda wheels)",
            flush=True,
        )
        importable = Build(
            "an equivalent built here (pip install --platform manylinux_2_28/2014 --only-binary=:all: "
            "--python-version 3.13 --implementation cp --target of pyproject's dependencies; no bytecode, as "
            "sam's pip workflow extracts wheels)",
            REPO_ROOT / "functions" / "archiver",
            [build_dependencies_layer(python)],
            host,
        )
    print(f"  [4] timing imports from {importable.label}", flush=True)
    deployed = builds[0] if builds else importable
    function_compiled, layer_compiled = _compiled_shares(deployed)
    as_deployed = _copy(
        importable,
        workdir / "as-deployed",
        bytecode="compile",
        python=python,
        function_bytecode=function_compiled > HALF,
        layer_bytecode=layer_compiled > HALF,
    )
    stripped = _copy(importable, workdir / "stripped", bytecode="strip")
    compiled = _copy(importable, workdir / "compiled", bytecode="compile", python=python)

    def environment(copy: tuple[Path, list[Path]], **extra: str) -> dict[str, str]:
        function_dir, layers = copy
        return lambda_environment(function_dir, [function_dir, *layers], extra)

    reps = plan.coldstart_reps
    deployed_label = (
        f"as {deployed.label} ships it (function {'with' if function_compiled > HALF else 'without'} "
        f"bytecode, layer {'with' if layer_compiled > HALF else 'without'})"
    )
    variants: dict[str, list[float]] = {
        "no bytecode at all": time_import(python, environment(stripped), reps),
        deployed_label: time_import(python, environment(as_deployed), reps),
        "bytecode everywhere (compileall, unchecked-hash)": time_import(python, environment(compiled), reps),
    }
    breakdown = import_breakdown(python, environment(compiled))
    body = module_body(python, environment(compiled), reps)
    with_bytecode_ms = median(variants["bytecode everywhere (compileall, unchecked-hash)"])
    as_built_ms = median(variants[deployed_label])
    no_bytecode_ms = median(variants["no bytecode at all"])
    section.data.update(
        import_ms=with_bytecode_ms, import_as_built_ms=as_built_ms, import_no_bytecode_ms=no_bytecode_ms
    )

    section.row(
        "cold start: handler import, Python 3.13, with bytecode",
        f"{with_bytecode_ms:.0f} ms",
        f"<= {IMPORT_TARGET_MS:.0f} ms",
        "met" if with_bytecode_ms <= IMPORT_TARGET_MS else "missed",
    )
    section.row(
        "cold start: as the build ships it / without any bytecode",
        f"{as_built_ms:.0f} ms / {no_bytecode_ms:.0f} ms",
    )
    size_rows = _size_rows(section, builds or [importable])

    section.add(
        f"Artefact timed: {importable.label} (the host is {host}; an arm64 build cannot be imported "
        "here, and "
        f"its size is reported below). Interpreter: `{python}` ({version}), "
        "`-s`, an "
        "environment like Lambda's at init (the template's variables, `AWS_EXECUTION_ENV`, code read-only so "
        "`PYTHONDONTWRITEBYTECODE=1`, function dir and layer on the path). Time = "
        "`importlib.import_module('hook_archive.handlers.archive_run')` in a fresh interpreter, "
        "including what "
        "the module does at import (config validation, three boto3 clients, Powertools "
        "Logger/Metrics/Tracer); "
        f"{reps} runs each, on copies of the build."
    )
    section.table(
        ["variant", "median ms", "runs (ms)"],
        [
            (name, f"{median(ms):.0f}", ", ".join(f"{value:.0f}" for value in ms))
            for name, ms in variants.items()
        ],
    )
    section.add(
        "**Bytecode.** Without it every cold start compiles every module it imports, and Lambda cannot keep "
        "the result (the code is read-only). aws-lambda-builders' Python pip workflow, which `sam build` "
        "uses for the function's `CodeUri`, copies the source with `*.pyc`/`__pycache__` in its "
        "`EXCLUDED_FILES` (and extracts wheels with `zipfile`, no compile step); the dependencies layer "
        f"here is a makefile build that compiles. In {deployed.label}: {_bytecode_state(deployed)}. "
        + (
            "So the function's own modules are compiled at every cold start: "
            if function_compiled <= HALF
            else "The function has bytecode here: "
        )
        + f"{as_built_ms:.0f} ms as shipped against "
        f"{with_bytecode_ms:.0f} ms with bytecode everywhere ({no_bytecode_ms:.0f} ms with none at all). "
        "The function is therefore built the way the layer is (`BuildMethod: makefile`, "
        "functions/archiver/Makefile: copy, then `python3.13 -m compileall --invalidation-mode "
        "unchecked-hash`). "
        "`unchecked-hash` matters: timestamp-checked .pyc files compare the source's mtime, which a zip "
        "keeps only to 2 seconds."
    )
    section.add(
        "Where the import time goes (`-X importtime`, bytecode everywhere; self = all of the package's "
        "modules, "
        "cumulative = its first import with everything it pulled in; `hook_archive`'s self includes the "
        "handler module body: config and three boto3 clients):"
    )
    section.table(
        ["package", "self ms", "cumulative ms"],
        [(f"`{name}`", f"{own:.1f}", f"{cumulative:.1f}") for name, own, cumulative in breakdown[:12]],
    )
    _body_table(section, body, reps)
    section.add("**Size** (unzipped, bytes of regular files; MB = 10^6 bytes):")
    section.table(
        ["build", "function MB", "layers MB", "total MB", "total without .pyc MB"], size_rows, "lrrrr"
    )
    _package_sizes(section, builds[0] if builds else importable)
    return section


def _body_table(section: Section, body: dict[str, float], reps: int) -> None:
    if not body:
        return
    section.add(
        "What the handler module does at import, step by step (same copy, bytecode everywhere; medians of "
        f"{reps}; the statements of the module body, timed apart in a fresh interpreter). With "
        "`LAMBDA_TASK_ROOT` set, as in Lambda, the X-Ray SDK skips its sampling clients; without it "
        "`Tracer()` costs ~65 ms more, which is why this environment sets it:"
    )
    section.table(["step", "ms"], [(name, f"{ms:.0f}") for name, ms in body.items()])


def _size_rows(section: Section, builds: list[Build]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for build in builds:
        function_bytes = tree_bytes([build.function_dir])
        layer_bytes = tree_bytes(build.layers)
        total = function_bytes + layer_bytes
        rows.append(
            (
                f"{build.label} ({build.architecture})",
                f"{function_bytes / 1e6:.2f}",
                f"{layer_bytes / 1e6:.1f}",
                f"{total / 1e6:.1f}",
                f"{tree_bytes([build.function_dir, *build.layers], bytecode=False) / 1e6:.1f}",
            )
        )
        section.row(
            f"unzipped size, function + layers, {build.label} ({build.architecture})",
            f"{total / 1e6:.1f} MB",
            f"<= {SIZE_TARGET_MB:.0f} MB",
            "met" if total / 1e6 <= SIZE_TARGET_MB else "missed",
        )
        section.data.setdefault("size_bytes", total)
    return rows


def _copy(
    build: Build,
    target: Path,
    *,
    bytecode: str,
    python: str = "",
    function_bytecode: bool = True,
    layer_bytecode: bool = True,
) -> tuple[Path, list[Path]]:
    """A copy of the build; bytecode = strip | compile (unchecked-hash), for the function and the layers
    unless function_bytecode / layer_bytecode say that part ships without."""
    function_copy = target / "function"
    shutil.copytree(build.function_dir, function_copy, ignore=shutil.ignore_patterns("tests", "*.egg-info"))
    layer_copies = []
    for index, layer in enumerate(build.layers):
        copy = target / f"layer{index}" / "python"
        shutil.copytree(layer, copy, symlinks=True)
        layer_copies.append(copy)
    for root in [function_copy, *layer_copies]:
        strip_bytecode(root)
        wanted = function_bytecode if root == function_copy else layer_bytecode
        if bytecode == "compile" and wanted:
            compile_bytecode(python, root)
    return function_copy, layer_copies


def _package_sizes(section: Section, build: Build) -> None:
    packages: dict[str, int] = {}
    for layer in build.layers:
        for child in layer.iterdir():
            name = child.name.split("-")[0] if child.name.endswith(".dist-info") else child.name
            name = name.removesuffix(".py")
            packages[name] = packages.get(name, 0) + (
                tree_bytes([child]) if child.is_dir() else child.stat().st_size
            )
    top = sorted(packages.items(), key=lambda item: item[1], reverse=True)[:8]
    section.add(f"Biggest packages in {build.label}:")
    section.table(["package", "MB"], [(f"`{name}`", f"{size / 1e6:.1f}") for name, size in top])
    pyarrow = next((layer / "pyarrow" for layer in build.layers if (layer / "pyarrow").is_dir()), None)
    if pyarrow is not None:
        biggest = sorted(((p.stat().st_size, p.name) for p in pyarrow.glob("*.so*")), reverse=True)[:6]
        section.add(
            "pyarrow's biggest libraries: "
            + ", ".join(f"`{name}` {size / 1e6:.1f} MB" for size, name in biggest)
            + ". The archiver uses Arrow arrays and the Parquet writer on local files only."
        )
