"""make generate (tooling/generate.py) writes the annotations queries (queries/annotations/*.sql) into their
AWS::Athena::NamedQuery resources as it writes the results' queries, and refuses a file no resource names."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.template.cfn import REPO_ROOT, transformed
from tests.template.test_generated import GENERATED_TREE, _generate

ANNOTATION_QUERIES = sorted((REPO_ROOT / "queries" / "annotations").glob("*.sql"))


def _copy_tree(root: Path) -> None:
    for name in GENERATED_TREE:
        source, copy = REPO_ROOT / name, root / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copyfile(source, copy)


def test_every_annotations_query_is_a_saved_query_with_the_files_text() -> None:
    saved = {
        resource["Properties"]["Description"]: resource["Properties"]
        for resource in transformed()["Resources"].values()
        if resource["Type"] == "AWS::Athena::NamedQuery"
    }
    assert len(ANNOTATION_QUERIES) >= 2
    for path in ANNOTATION_QUERIES:
        properties = saved[f"queries/annotations/{path.name}"]
        assert properties["QueryString"] == path.read_text()
        assert "FROM hook_annotations\n" in properties["QueryString"]


def test_a_changed_annotations_query_is_copied_into_its_saved_query(tmp_path: Path) -> None:
    # Given a copy of the tree in which an annotations query gained a line
    _copy_tree(tmp_path)
    query = tmp_path / "queries" / "annotations" / "failure_severity_per_hook_last_30_days.sql"
    query.write_text(query.read_text() + "LIMIT 50\n")
    # When checked, then the template is out of date; generating writes the line, and is then a no-op
    checked = _generate(tmp_path, "--check")
    assert checked.returncode == 1, checked.stderr
    assert checked.stdout.splitlines() == ["would change template.yaml"]
    assert _generate(tmp_path).returncode == 0
    saved = transformed(tmp_path / "template.yaml")["Resources"]["FailureSeverityPerHookQuery"]["Properties"]
    assert saved["QueryString"] == query.read_text()
    assert _generate(tmp_path, "--check").returncode == 0


def test_an_annotations_query_without_a_saved_query_is_refused_by_name(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    (tmp_path / "queries" / "annotations" / "new_question.sql").write_text("SELECT 1 FROM hook_annotations\n")
    before = (tmp_path / "template.yaml").read_bytes()

    generated = _generate(tmp_path)

    assert generated.returncode == 2
    assert "queries/annotations/new_question.sql: no AWS::Athena::NamedQuery" in generated.stderr
    assert (tmp_path / "template.yaml").read_bytes() == before  # nothing written
