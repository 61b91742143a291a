"""Run by the layer Makefile: make the botocore data the function loads at every cold start cheaper to load.

Service models carry their API documentation as `"documentation": "<html>"` strings (about 80% of their
bytes); botocore only reads them to build help() docstrings, never to call an API. They are dropped and the
models rewritten without indentation, gzipped as botocore ships them. endpoints.json, which every client
creation parses, is rewritten without indentation. Nothing else changes: keys, shapes and rules stay
byte-for-byte equal as JSON values (the layer tests build clients from the result).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any


def without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: without_documentation(item)
            for key, item in value.items()
            if not (key == "documentation" and isinstance(item, str))
        }
    if isinstance(value, list):
        return [without_documentation(item) for item in value]
    return value


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def main(data_dir: Path) -> None:
    for model in sorted(data_dir.glob("*/*/service-2.json*")):
        if model.suffix == ".gz":
            slim = without_documentation(json.loads(gzip.decompress(model.read_bytes())))
            model.write_bytes(gzip.compress(compact(slim), compresslevel=9, mtime=0))
        else:
            model.write_bytes(compact(without_documentation(json.loads(model.read_bytes()))))
    for examples in data_dir.glob("*/*/examples-1.json"):
        examples.unlink()  # documentation only
    endpoints = data_dir / "endpoints.json"
    endpoints.write_bytes(compact(json.loads(endpoints.read_bytes())))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
