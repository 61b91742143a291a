"""The wheel an operator installs: built offline from this checkout (uv build, hatchling from uv's cache, as
`uv sync` builds the editable install), then read and imported from a bare directory, away from functions/.

The CLI imports the archiver's and fleet health's own packages (hook_archive, fleet_health); a wheel without
them installs a console script that fails on its first import. Its own dependencies (rich, pyyaml) are the
`cli` extra, since the package's required dependencies are the function's, pinned to its layer."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Each package the wheel ships, with the folder of this checkout it comes from.
SHIPPED = {
    "hook_archive_cli": REPO_ROOT / "hook_archive_cli",
    "hook_archive": REPO_ROOT / "functions" / "archiver" / "hook_archive",
    "fleet_health": REPO_ROOT / "functions" / "fleet_health" / "fleet_health",
}


def _uv() -> str:
    local = REPO_ROOT / ".tools" / "bin" / "uv"  # what the Makefile installs
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv not found: run `make setup` (it installs .tools/bin/uv)")
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("dist")
    completed = subprocess.run(  # noqa: S603  # uv, with our own arguments
        [_uv(), "build", "--wheel", "--offline", "--quiet", "--out-dir", str(out_dir), str(REPO_ROOT)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    (built,) = out_dir.glob("cfn_hook_archive-*.whl")
    return built


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel's files in a bare directory: what a --no-deps install puts in site-packages."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (path,) = [item for item in archive.namelist() if item.endswith(f".dist-info/{name}")]
        return archive.read(path).decode()


def _sources(package: str) -> Iterator[str]:
    root = SHIPPED[package]
    for path in sorted(root.rglob("*.py")):
        yield f"{package}/{path.relative_to(root).as_posix()}"


def test_wheel_ships_the_cli_and_the_archiver_and_fleet_health_packages_as_top_level(wheel: Path) -> None:
    names = _names(wheel)

    for package in SHIPPED:
        expected = set(_sources(package))
        assert f"{package}/__init__.py" in expected
        assert expected <= names, sorted(expected - names)
    top_level = {name.split("/", 1)[0] for name in names if "/" in name}
    assert {item for item in top_level if not item.endswith(".dist-info")} == set(SHIPPED)
    assert not [name for name in names if name.endswith((".pyc", ".pyo")) or "__pycache__" in name]


def test_wheel_declares_the_console_script_and_the_cli_extra(wheel: Path) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(_dist_info(wheel, "entry_points.txt"))
    metadata = Parser().parsestr(_dist_info(wheel, "METADATA"))

    assert dict(entry_points["console_scripts"]) == {"cfn-hook-archive": "hook_archive_cli.__main__:main"}
    assert "cli" in metadata.get_all("Provides-Extra", [])
    requires = metadata.get_all("Requires-Dist", [])
    for distribution in ("rich", "pyyaml"):
        assert any(item.startswith(distribution) and "extra == 'cli'" in item for item in requires), requires


def _python(site: Path, script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """This interpreter with the unpacked wheel first on the path, outside the checkout."""
    environment = {**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(  # noqa: S603  # this interpreter, our own script
        [sys.executable, "-c", script],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


_IMPORT_EVERY_COMMAND = """
import json, sys
from hook_archive_cli.__main__ import build_parser
build_parser()  # preflight, status and verify: every module they import
names = ("hook_archive_cli", "hook_archive_cli.commands", "hook_archive", "hook_archive.dal.hook_results",
         "fleet_health", "fleet_health.logic.fleet_check")
print(json.dumps({name: sys.modules[name].__file__ for name in names}))
"""


def test_the_entry_point_imports_every_command_from_the_wheel_alone(unpacked: Path, tmp_path: Path) -> None:
    completed = _python(unpacked, _IMPORT_EVERY_COMMAND, cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    files = json.loads(completed.stdout)
    outside = {name: path for name, path in files.items() if not Path(path).is_relative_to(unpacked)}
    assert not outside, f"imported from outside the wheel: {outside}"


_WITHOUT_THE_EXTRA = """
import runpy, sys
class WithoutRich:
    def find_spec(self, name, path=None, target=None):
        if name == "rich" or name.startswith("rich."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, WithoutRich())
sys.argv = ["cfn-hook-archive", "status", "--help"]
runpy.run_module("hook_archive_cli", run_name="__main__")
"""


def test_without_the_cli_extra_the_console_script_says_how_to_install_it(
    unpacked: Path, tmp_path: Path
) -> None:
    completed = _python(unpacked, _WITHOUT_THE_EXTRA, cwd=tmp_path)

    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert "rich is not installed" in completed.stderr
    assert "cli extra" in completed.stderr
