"""Run by the layer Makefile: make the botocore data the function loads at every cold start cheaper to load.

Service models carry their API documentation as `"documentation": "<html>"` strings (most of their
bytes); botocore only reads them to build help() docstrings, never to call an API. They are dropped and the
models rewritten without indentation, gzipped as botocore ships them.

endpoints.json (parsed by the first client creation of every cold start: bench/RESULTS.md, section 4,
measures the cold start) describes every AWS service in every partition. It keeps the entries of the
services whose models the layer keeps (the Makefile deleted the others, so botocore could not create their
clients anyway) and every partition's regions and defaults, without indentation: a small part of the
original. What the legacy resolver answers for a kept service does not change
(tests/unit/test_layer_data.py compares every region and variant).

Nothing else changes: keys, shapes and rules stay equal as JSON values, and the documentation botocore
reads when it calls an API (`clientContextParams`) stays (the layer tests make calls through the result).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

# Where botocore reads `documentation` at call time, not only for help(): S3's endpoint resolution indexes
# it in ServiceModel.client_context_parameters on every call. These few entries keep it.
_READ_AT_CALL_TIME = frozenset({"clientContextParams"})


def without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: item if key in _READ_AT_CALL_TIME else without_documentation(item)
            for key, item in value.items()
            if not (key == "documentation" and isinstance(item, str))
        }
    if isinstance(value, list):
        return [without_documentation(item) for item in value]
    return value


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def for_services(endpoints: dict[str, Any], services: set[str]) -> dict[str, Any]:
    """endpoints.json with only the given services' entries in each partition."""
    return {
        **endpoints,
        "partitions": [
            {**partition, "services": {k: v for k, v in partition["services"].items() if k in services}}
            for partition in endpoints["partitions"]
        ],
    }


def main(data_dir: Path) -> None:
    kept: set[str] = set()  # endpoints.json names a service by its model's endpointPrefix
    for model in sorted(data_dir.glob("*/*/service-2.json*")):
        if model.suffix == ".gz":
            slim = without_documentation(json.loads(gzip.decompress(model.read_bytes())))
            model.write_bytes(gzip.compress(compact(slim), compresslevel=9, mtime=0))
        else:
            slim = without_documentation(json.loads(model.read_bytes()))
            model.write_bytes(compact(slim))
        kept.add(slim["metadata"]["endpointPrefix"])
    for examples in data_dir.glob("*/*/examples-1.json"):
        examples.unlink()  # documentation only
    endpoints = data_dir / "endpoints.json"
    endpoints.write_bytes(compact(for_services(json.loads(endpoints.read_bytes()), kept)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
