"""Print the CloudFormation that AWS's SAM transform makes of a template (run by the SAM CLI's Python).

Usage: .tools/sam/bin/python tooling/sam_transform.py template.yaml > transformed.json

This is aws-sam-translator, the library the AWS::Serverless transform runs on; it needs no AWS access as
long as the template names no managed policy by its short name (ours names none). Local code paths are
replaced by S3 URIs first, as `sam package` does before a deployment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class _NoManagedPolicyNames:
    """Stands in for the IAM lookup of managed policy short names."""

    def load(self) -> dict[str, str]:
        return {}


_CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def _as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    for resource in template.get("Resources", {}).values():
        name = _CODE_PROPERTIES.get(resource.get("Type", ""))
        properties = resource.get("Properties", {})
        if name and isinstance(properties.get(name), str) and not properties[name].startswith("s3://"):
            properties[name] = f"s3://packaged-artifacts/{properties[name].strip('/')}.zip"
    return template


def transform_template(path: Path) -> dict[str, Any]:
    """The CloudFormation the AWS::Serverless transform makes of the template at `path`, as packaged."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = _as_packaged(yaml_parse(path.read_text()))
    transformed: dict[str, Any] = transform(template, {}, _NoManagedPolicyNames(), passthrough_metadata=True)  # type: ignore[arg-type,unused-ignore]
    # Plain JSON types, as a template file holds them (the translator returns a few of its own).
    document: dict[str, Any] = json.loads(json.dumps(transformed, default=str))
    return document


def main(path: str) -> int:
    json.dump(transform_template(Path(path)), sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
