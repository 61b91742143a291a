"""What `sam build` produced (`make build`, `make build-x86_64`): the artefacts Lambda would run."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.template.cfn import REPO_ROOT, build_dir

LAYER_REQUIREMENTS = REPO_ROOT / "layers" / "dependencies" / "requirements.txt"
CURATOR_REQUIREMENTS = REPO_ROOT / "layers" / "curator" / "requirements.txt"
CURATOR_CODE = REPO_ROOT / "functions" / "curator"
# The curator's layer carries pyarrow whole but for Flight and Substrait (pyiceberg scans through its dataset
# API and writes through its S3 filesystem): its own budget, still well inside Lambda's limit.
CURATOR_UNZIPPED_BUDGET_MB = 175
FUNCTION_CODE = REPO_ROOT / "functions" / "archiver"
# Lambda's hard limit is 250 MB for the function and all its layers, unzipped. Ours leaves room to grow.
UNZIPPED_BUDGET_MB = 150
LAMBDA_LIMIT_MB = 250
ELF_MACHINE = {"arm64": 183, "x86_64": 62}  # e_machine: EM_AARCH64, EM_X86_64
ARCHITECTURES = ["arm64", "x86_64"]
SIZES: dict[str, tuple[float, float]] = {}  # architecture -> (function MB, layer MB), for the summary


def _pins() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*])?==([^;\s]+)", requirement).groups()  # type: ignore[union-attr]
        pins[_normalise(name)] = version
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _size_mb(path: Path) -> float:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) / 1_000_000


def _installed(site: Path) -> dict[str, str]:
    versions = {}
    for metadata in site.glob("*.dist-info/METADATA"):
        fields = dict(
            line.split(": ", 1)
            for line in metadata.read_text().splitlines()
            if ": " in line and line[0] != " "
        )
        versions[_normalise(fields["Name"])] = fields["Version"]
    return versions


def test_layer_requirements_are_the_lock_exported_for_the_project_dependencies() -> None:
    # Single source: uv.lock. The committed file is regenerated and compared (`make pins` rewrites it).
    header = LAYER_REQUIREMENTS.read_text().splitlines()[1]
    command = header.removeprefix("#    ").split()
    assert command[:2] == ["uv", "export"]
    output = command.index("-o")
    del command[output : output + 2]
    uv = REPO_ROOT / ".tools" / "bin" / "uv"
    exported = subprocess.run(  # noqa: S603  # the project's own uv and the command the file records
        [str(uv), *command[1:], "--quiet"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "UV_NO_PROGRESS": "1"},
    ).stdout
    body = [line for line in LAYER_REQUIREMENTS.read_text().splitlines() if not line.startswith("#")]
    assert [line for line in exported.splitlines() if not line.startswith("#")] == body
    requirements = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", LAYER_REQUIREMENTS.read_text(), re.MULTILINE))
    for name, version in _pins().items():
        assert requirements[name] == version, name


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_built_layer_holds_exactly_the_locked_versions_built_for_its_architecture(architecture: str) -> None:
    build = build_dir(architecture)
    site = build / "DependenciesLayer" / "python"
    locked = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", LAYER_REQUIREMENTS.read_text(), re.MULTILINE))
    assert _installed(site) == locked
    for name, version in _pins().items():
        assert _installed(site)[name] == version
    built = json.loads(json.dumps(_template_architectures(build)))
    assert built == {"ArchiverFunction": [architecture], "DependenciesLayer": [architecture]}
    libraries = sorted((site / "pyarrow").glob("lib*.so*")) + sorted(
        (site / "pyarrow").glob("*.cpython-313-*.so")
    )
    assert libraries
    for library in libraries:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[architecture], library.name


def test_x86_64_build_comes_from_a_template_that_differs_in_the_architecture_only() -> None:
    build_dir("x86_64")
    variant = (REPO_ROOT / ".aws-sam" / "x86_64" / "template.yaml").read_text().splitlines()
    source = (REPO_ROOT / "template.yaml").read_text().splitlines()
    changed = [(old, new) for old, new in zip(source, variant, strict=True) if old != new]
    assert changed
    assert all(old.replace("arm64", "x86_64") == new for old, new in changed)
    # Globals, then each layer's (dependencies, curator) CompatibleArchitectures and BuildArchitecture.
    assert len(changed) == 5


@pytest.mark.parametrize(("template", "architecture"), [(None, "arm64"), ("x86_64", "x86_64")])
def test_layer_makefile_builds_for_the_architecture_its_template_states(
    template: str | None, architecture: str
) -> None:
    environment = dict(os.environ)
    environment.pop("LAYER_ARCHITECTURE", None)
    if template:
        environment["LAYER_TEMPLATE"] = str(build_dir(template).parent / "template.yaml")
    make = shutil.which("make") or "make"
    makefile = REPO_ROOT / "layers" / "dependencies" / "Makefile"
    printed = subprocess.run(  # noqa: S603  # make and our own Makefile
        [make, "--silent", "-f", str(makefile), "print-architecture"],
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert printed == architecture


def _template_architectures(build: Path) -> dict[str, list[str]]:
    from emulation.lambda_runtime import load_template  # noqa: PLC0415

    document = load_template(build / "template.yaml")
    resources = document["Resources"]
    function = (
        resources["ArchiverFunction"]["Properties"].get("Architectures")
        or document["Globals"]["Function"]["Architectures"]
    )
    return {
        "ArchiverFunction": function,
        "DependenciesLayer": resources["DependenciesLayer"]["Properties"]["CompatibleArchitectures"],
    }


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_layer_is_pruned_of_what_the_function_never_loads(architecture: str) -> None:
    site = build_dir(architecture) / "DependenciesLayer" / "python"
    pyarrow = site / "pyarrow"
    for absent in ("include", "src", "tests"):
        assert not (pyarrow / absent).exists(), absent
    for pattern in (
        "*flight*",
        "*_s3fs*",
        "libarrow_s3*",
        "_substrait*",
        "libarrow_python.so",
        "*.so.*.*.*",
        "_dataset*.so",
        "_csv.*.so",
        "_acero.*.so",
    ):
        assert not list(pyarrow.glob(pattern)), pattern
    for pattern in ("*.pyx", "*.pxd", "*.h", "*.cpp"):
        assert not list(site.rglob(pattern)), pattern
    # Bytecode exists once, for the runtime's Python only.
    tags = {path.name.split(".")[-2] for path in site.rglob("*.pyc")}
    assert tags == {"cpython-313"}
    models = sorted(path.name for path in (site / "botocore" / "data").iterdir() if path.is_dir())
    assert models == ["cloudformation", "events", "s3", "sts", "xray"]
    # The models keep every shape and operation but none of their HTML documentation.
    (cloudformation,) = (site / "botocore" / "data" / "cloudformation").glob("*/service-2.json.gz")
    model = gzip.decompress(cloudformation.read_bytes())
    assert b'"documentation":' not in model
    assert {"ListHookResults", "GetHookResult"} <= set(json.loads(model)["operations"])
    assert not list((site / "botocore" / "data").glob("*/*/examples-1.json"))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_function_ships_bytecode_compiled_for_the_runtime_that_never_goes_stale(architecture: str) -> None:
    function = build_dir(architecture) / "ArchiverFunction"
    sources = sorted(function.rglob("*.py"))
    assert sources
    for source in sources:
        (compiled,) = (source.parent / "__pycache__").glob(f"{source.stem}.cpython-313.pyc")
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{compiled}: not unchecked-hash bytecode (flags {flags:#b})"
    assert {path.relative_to(function) for path in sources} == {
        path.relative_to(FUNCTION_CODE) for path in FUNCTION_CODE.rglob("*.py")
    }


def test_every_client_the_function_creates_has_its_service_model_in_the_layer() -> None:
    services = set()
    for path in FUNCTION_CODE.rglob("*.py"):
        services |= set(re.findall(r"""\.client\(\s*["']([a-z0-9-]+)["']""", path.read_text()))
    assert services == {"cloudformation", "s3", "events"}
    models = build_dir("arm64") / "DependenciesLayer" / "python" / "botocore" / "data"
    for service in services:
        assert list((models / service).glob("*/service-2.json*")), service


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_function_and_layer_unzipped_stay_within_budget(architecture: str) -> None:
    build = build_dir(architecture)
    function, layer = _size_mb(build / "ArchiverFunction"), _size_mb(build / "DependenciesLayer")
    SIZES[architecture] = (function, layer)
    assert function + layer <= UNZIPPED_BUDGET_MB < LAMBDA_LIMIT_MB


_IMPORT_AND_WRITE = """
import json, os, sys, tempfile
sys.path[:0] = [os.environ["FUNCTION_DIR"], os.environ["LAYER_SITE"]]
import botocore.session, pyarrow, pyarrow.parquet as pq, pydantic, aws_lambda_powertools, boto3
from hook_archive.dal.archive_writer import ParquetSpool, results_from_parquet
from hook_archive.models.archive_schema import ARCHIVE_SCHEMA
from hook_archive.models.hook_result import HookResult

# Cold start of the handler module as Lambda does it: configuration, clients, Powertools.
import hook_archive.handlers.archive_run as handler

model = botocore.session.get_session().get_service_model("cloudformation")
result = HookResult.from_api({
    "HookResultId": "0b0f1e1a-7d5e-4d2c-9a57-3f1f4e0f6a10", "InvocationPoint": "PRE_PROVISION",
    "FailureMode": "FAIL", "TypeName": "MyOrg::Guard::S3Encryption", "Status": "HOOK_COMPLETE_FAILED",
    "HookStatusReason": "Bucket ArtifactsBucket does not enable default server-side encryption",
    "InvokedAt": __import__("datetime").datetime(2026, 11, 26, 9, 30, tzinfo=__import__("datetime").UTC),
    "TargetType": "RESOURCE", "TargetId": "ArtifactsBucket",
})
spool = ParquetSpool(account_id="123456789012", region="us-east-1", archived_at_ms=1_790_000_000_000,
                     rows_per_row_group=100, directory=tempfile.mkdtemp())
spool.add("hook-results/dt=2026-11-26/x.parquet", result)
(written,) = spool.finish()
table = pq.ParquetFile(written.path).read()
(read_back,) = results_from_parquet(open(written.path, "rb").read())  # how a retry adopts a dead run's rows
print(json.dumps({
    "python": list(sys.version_info[:2]),
    "modules": {name: module.__file__ for name, module in
                {"pyarrow": pyarrow, "botocore": botocore, "boto3": boto3, "pydantic": pydantic,
                 "aws_lambda_powertools": aws_lambda_powertools, "handler": handler}.items()},
    "versions": {
        "pyarrow": pyarrow.__version__, "botocore": botocore.__version__, "boto3": boto3.__version__
    },
    "operations": sorted(op for op in model.operation_names if op in ("ListHookResults", "GetHookResult")),
    "schema_equal": table.schema.equals(ARCHIVE_SCHEMA, check_metadata=True),
    "rows": table.to_pylist(),
    "read_back_equal": read_back == result,
}, default=str))
"""


def test_x86_64_artefact_imports_under_python_313_and_writes_the_archive_parquet(tmp_path: Path) -> None:
    # This host is x86_64: the x86_64 build is the one it can load. Only the artefact is on sys.path
    # (-I -S: no site-packages, no PYTHON* variables; -B: nothing written into it), as in Lambda.
    if sys.version_info[:2] != (3, 13):
        pytest.fail(f"the Lambda runtime is python3.13; this test runs under {sys.version.split()[0]}")
    build = build_dir("x86_64")
    function_dir, site = build / "ArchiverFunction", build / "DependenciesLayer" / "python"
    environment = {
        "PATH": os.environ["PATH"],
        "FUNCTION_DIR": str(function_dir),
        "LAYER_SITE": str(site),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ARCHIVE_BUCKET": "hook-archive",
        "POWERTOOLS_SERVICE_NAME": "cfn-hook-archive",
        "POWERTOOLS_METRICS_NAMESPACE": "CfnHookArchive",
        "HOME": str(tmp_path),
    }
    completed = subprocess.run(  # noqa: S603  # this interpreter, our own script
        [sys.executable, "-I", "-S", "-B", "-c", _IMPORT_AND_WRITE],
        env=environment,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["python"] == [3, 13]
    for name, path in report["modules"].items():
        expected_root = function_dir if name == "handler" else site
        assert Path(path).is_relative_to(expected_root), (name, path)
    pins = _pins()
    assert report["versions"] == {name: pins[name] for name in ("pyarrow", "botocore", "boto3")}
    assert report["operations"] == ["GetHookResult", "ListHookResults"]
    assert report["schema_equal"] is True
    assert report["read_back_equal"] is True
    (row,) = report["rows"]
    assert row["hook_result_id"] == "0b0f1e1a-7d5e-4d2c-9a57-3f1f4e0f6a10"
    assert row["invoked_at"].startswith("2026-11-26 09:30:00")


# ----------------------------------------------------------------------------------------------- curator
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_curator_layer_holds_exactly_the_generated_pins_built_for_its_architecture(architecture: str) -> None:
    site = build_dir(architecture) / "CuratorLayer" / "python"
    pinned = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", CURATOR_REQUIREMENTS.read_text(), re.MULTILINE))
    assert {"pyiceberg", "pyarrow", "boto3", "aws-lambda-powertools", "pydantic"} <= set(pinned)
    assert _installed(site) == pinned
    # The archiver's layer and the curator's ship the same versions of what both hold.
    archiver = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", LAYER_REQUIREMENTS.read_text(), re.MULTILINE))
    assert {name: pinned[name] for name in set(pinned) & set(archiver)} == {
        name: archiver[name] for name in set(pinned) & set(archiver)
    }
    for library in sorted((site / "pyarrow").glob("lib*.so*")):
        header = library.read_bytes()[:20]
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[architecture], library.name
    # What pyiceberg needs of pyarrow stays; what nothing imports goes.
    for present in ("_dataset.*.so", "_s3fs.*.so", "libarrow_s3.so*", "_acero.*.so"):
        assert list((site / "pyarrow").glob(present)), present
    for absent in ("*flight*", "_substrait.*.so", "_pyarrow_cpp_tests.*"):
        assert not list((site / "pyarrow").glob(absent)), absent
    assert not (site / "hive_metastore").exists()
    models = sorted(path.name for path in (site / "botocore" / "data").iterdir() if path.is_dir())
    assert models == ["glue", "s3", "sts"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_curator_function_ships_its_package_as_bytecode(architecture: str) -> None:
    function = build_dir(architecture) / "CuratorFunction"
    sources = sorted(function.rglob("*.py"))
    assert {path.relative_to(function) for path in sources} == {
        path.relative_to(CURATOR_CODE) for path in CURATOR_CODE.rglob("*.py")
    }
    for source in sources:
        assert list((source.parent / "__pycache__").glob(f"{source.stem}.cpython-313.pyc")), source


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_curator_function_and_layer_unzipped_stay_within_budget(architecture: str) -> None:
    build = build_dir(architecture)
    function, layer = _size_mb(build / "CuratorFunction"), _size_mb(build / "CuratorLayer")
    assert function + layer <= CURATOR_UNZIPPED_BUDGET_MB < LAMBDA_LIMIT_MB


_CURATE = """
import json, os, sys
sys.path[:0] = [os.environ["FUNCTION_DIR"], os.environ["LAYER_SITE"]]
import pyarrow, pyiceberg

# Cold start as Lambda does it (the configuration is parsed at import), then one scheduled tick.
import curator.handlers.curate as handler

class Context:
    function_name = "cfn-hook-archive-CuratorFunction"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cfn-hook-archive-CuratorFunction"
    aws_request_id = "00000000-0000-4000-8000-000000000001"

summary = handler.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())
print(json.dumps({
    "modules": {"pyarrow": pyarrow.__file__, "pyiceberg": pyiceberg.__file__, "handler": handler.__file__},
    "summary": summary,
}, default=str))
"""


def test_x86_64_curator_artefact_curates_a_raw_archive_into_the_iceberg_table(tmp_path: Path) -> None:
    # Only the built function and its layer on sys.path (-I -S -B), as in Lambda, against moto on loopback.
    if sys.version_info[:2] != (3, 13):
        pytest.fail(f"the Lambda runtime is python3.13; this test runs under {sys.version.split()[0]}")
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    from curator.dal.curated_table import glue_catalog  # noqa: PLC0415
    from emulation.aws_stack import CREDENTIALS, REGION, local_aws  # noqa: PLC0415
    from hook_archive.models.archive_schema import ARCHIVE_SCHEMA  # noqa: PLC0415

    build = build_dir("x86_64")
    with local_aws(enforce_authorization=False, tls=False) as aws:
        # Given two raw objects of one day, as the archiver writes them
        aws.client("glue").create_database(DatabaseInput={"Name": "cfn_hook_archive"})
        s3 = aws.client("s3")
        for sequence in (1, 2):
            rows: dict[str, list[object]] = {
                field.name: [1_795_000_000_000] * 2 if pa.types.is_timestamp(field.type) else ["x"] * 2
                for field in ARCHIVE_SCHEMA
            }
            rows["hook_result_id"] = [f"id-{sequence}-a", f"id-{sequence}-b"]
            table = pa.Table.from_pydict(rows, schema=ARCHIVE_SCHEMA)
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            key = f"hook-results/dt=2026-11-26/123456789012-us-east-1-{sequence:020d}.parquet"
            s3.put_object(Bucket=aws.bucket, Key=key, Body=sink.getvalue().to_pybytes())
        environment = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "FUNCTION_DIR": str(build / "CuratorFunction"),
            "LAYER_SITE": str(build / "CuratorLayer" / "python"),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": aws.moto_url,
            **CREDENTIALS,
            "ARCHIVE_BUCKET": aws.bucket,
            "ARCHIVE_PREFIX": "hook-results",
            "GLUE_DATABASE": "cfn_hook_archive",
            "CURATED_TABLE": "hook_results",
            "CURATED_LOCATION": f"s3://{aws.bucket}/hook-results-curated/hook_results",
            "CURATED_ANNOTATIONS_TABLE": "hook_annotations",
            "CURATED_ANNOTATIONS_LOCATION": f"s3://{aws.bucket}/hook-results-curated/hook_annotations",
            "POWERTOOLS_SERVICE_NAME": "cfn-hook-archive",
            "POWERTOOLS_METRICS_NAMESPACE": "CfnHookArchive",
        }
        # When the built handler runs one tick
        completed = subprocess.run(  # noqa: S603  # this interpreter, our own script
            [sys.executable, "-I", "-S", "-B", "-c", _CURATE],
            env=environment,
            cwd=tmp_path,
            check=False,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert completed.returncode == 0, completed.stderr
        report = json.loads(completed.stdout.strip().splitlines()[-1])
        for name, path in report["modules"].items():
            root = build / ("CuratorFunction" if name == "handler" else "CuratorLayer")
            assert Path(path).is_relative_to(root), (name, path)
        # Then the Iceberg table it created holds the raw rows, once each, with their lineage
        properties = {
            "glue.endpoint": aws.moto_url,
            "glue.region": REGION,
            "s3.endpoint": aws.moto_url,
            "s3.region": REGION,
        }
        curated = glue_catalog(properties).load_table(("cfn_hook_archive", "hook_results")).scan().to_arrow()
        assert sorted(curated.column("hook_result_id").to_pylist()) == [
            "id-1-a",
            "id-1-b",
            "id-2-a",
            "id-2-b",
        ]
        assert set(curated.column("dt").to_pylist()) == {"2026-11-26"}
        assert len(set(curated.column("raw_object_key").to_pylist())) == 2
        assert report["summary"]["rows_written"] == 4
