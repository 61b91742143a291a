"""The layer's slimmed botocore data answers every question the function's clients ask exactly as the full
data does (layers/dependencies/slim_botocore_data.py, run by the layer Makefile)."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError
from botocore.loaders import create_loader
from botocore.regions import EndpointResolver

SCRIPT = Path(__file__).resolve().parents[2] / "layers" / "dependencies" / "slim_botocore_data.py"
KEPT = {"cloudformation", "events", "s3", "sts", "xray"}  # the layer Makefile's BOTOCORE_SERVICES


@pytest.fixture(scope="module")
def slim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slim_botocore_data", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def full_endpoints() -> dict[str, Any]:
    return dict(create_loader().load_data("endpoints"))


def _regions(endpoints: dict[str, Any]) -> set[str]:
    """Every region a partition names, every endpoint key of the kept services (fips-*, aws-global, ...) and
    one region no partition lists but whose name its regex matches."""
    regions = {"us-east-99", "cn-north-99", "eu-central-99"}
    for partition in endpoints["partitions"]:
        regions.update(partition["regions"])
        for service in KEPT:
            regions.update(partition["services"].get(service, {}).get("endpoints", {}))
    return regions


def _resolve(resolver: EndpointResolver, service: str, region: str, *, dualstack: bool, fips: bool) -> object:
    """The endpoint, or the error botocore raises for it (a variant no partition offers)."""
    try:
        return resolver.construct_endpoint(
            service, region, use_dualstack_endpoint=dualstack, use_fips_endpoint=fips
        )
    except BotoCoreError as error:
        return (type(error).__name__, str(error))


def test_slim_endpoints_keep_only_the_layers_services_in_every_partition(
    slim: ModuleType, full_endpoints: dict[str, Any]
) -> None:
    slimmed = slim.for_services(copy.deepcopy(full_endpoints), KEPT)
    for partition, original in zip(slimmed["partitions"], full_endpoints["partitions"], strict=True):
        assert set(partition["services"]) == KEPT & set(original["services"])
        assert {k: v for k, v in partition.items() if k != "services"} == {
            k: v for k, v in original.items() if k != "services"
        }
    # Small enough to matter: the full file is parsed by every cold start's first client.
    assert len(slim.compact(slimmed)) < len(json.dumps(full_endpoints)) / 10


def test_slim_endpoints_resolve_every_kept_service_as_the_full_data_does(
    slim: ModuleType, full_endpoints: dict[str, Any]
) -> None:
    full = EndpointResolver(full_endpoints, uses_builtin_data=True)
    slimmed = EndpointResolver(slim.for_services(copy.deepcopy(full_endpoints), KEPT), uses_builtin_data=True)
    compared = 0
    for service in sorted(KEPT):
        assert slimmed.get_available_endpoints(service) == full.get_available_endpoints(service)
        for region in sorted(_regions(full_endpoints)):
            for dualstack in (False, True):
                for fips in (False, True):
                    expected = _resolve(full, service, region, dualstack=dualstack, fips=fips)
                    assert _resolve(slimmed, service, region, dualstack=dualstack, fips=fips) == expected, (
                        service,
                        region,
                        dualstack,
                        fips,
                    )
                    compared += isinstance(expected, dict)
    assert compared > 500  # the comparison really ran over resolvable endpoints
