"""Derived files are generated, not compared: `make generate` (tooling/generate.py) must change nothing.

It writes the event JSON Schema, the template's named-query SQL, registry schema and Glue columns, and the
layers' requirements.txt, each from its one source.
"""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from hook_archive.models.annotation_schema import ANNOTATION_SCHEMA
from tests.template.cfn import REPO_ROOT, transformed

GENERATOR = REPO_ROOT / "tooling" / "generate.py"
# What the generator reads and writes in a tree; the models it imports come from this repository.
GENERATED_TREE = (
    "template.yaml",
    "queries",
    "schemas",
    "layers/dependencies/requirements.txt",
    "layers/curator/requirements.txt",
    "pyproject.toml",
    "uv.lock",
)


def _generate(root: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # our own script, fixed arguments
        [sys.executable, str(GENERATOR), "--root", str(root), *options],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_generate_changes_nothing_in_the_tree() -> None:
    completed = _generate(REPO_ROOT, "--check")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout == ""


def test_check_reports_the_template_when_a_query_file_changes_and_generate_copies_the_change(
    tmp_path: Path,
) -> None:
    # Given a copy of the tree in which one query file gained a line the template's copy lacks
    for name in GENERATED_TREE:
        source, copy = REPO_ROOT / name, tmp_path / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copyfile(source, copy)
    query = tmp_path / "queries" / "invocation_by_id.sql"
    query.write_text(query.read_text() + "LIMIT 1\n")
    before = (tmp_path / "template.yaml").read_text().splitlines(keepends=True)
    # When checked, then the template, and only the template, is reported as out of date
    checked = _generate(tmp_path, "--check")
    assert checked.returncode == 1, checked.stderr
    assert checked.stdout.splitlines() == ["would change template.yaml"]
    # And generating adds that one line to the query's QueryString, after which the check passes
    generated = _generate(tmp_path)
    assert generated.returncode == 0, generated.stderr
    after = (tmp_path / "template.yaml").read_text().splitlines(keepends=True)
    changes = [line for line in difflib.ndiff(before, after) if line[:2] in {"+ ", "- "}]
    assert changes == ["+         LIMIT 1\n"]
    position = after.index("        LIMIT 1\n")
    assert after[position - 1].strip().startswith("WHERE hook_result_id = ")
    assert _generate(tmp_path, "--check").returncode == 0


def test_the_raw_annotations_glue_table_has_annotation_schemas_columns_and_its_own_projected_location() -> (
    None
):
    table = transformed()["Resources"]["HookAnnotationsTable"]["Properties"]["TableInput"]
    columns = table["StorageDescriptor"]["Columns"]
    assert [column["Name"] for column in columns] == ANNOTATION_SCHEMA.names
    # The template's table is the raw one, as the archiver writes it: hook_annotations is its curated copy,
    # which the curator creates (like hook_results beside hook_results_raw).
    assert table["Name"] == "hook_annotations_raw"
    assert table["Parameters"]["projection.enabled"] == "true"
    assert "/annotations/dt=${!dt}/" in json.dumps(table["Parameters"]["storage.location.template"])
