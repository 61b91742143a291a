"""The layer's slimmed botocore data answers every question the function's clients ask exactly as the full
data does (layers/dependencies/slim_botocore_data.py, run by the layer Makefile on what it keeps)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore
import pytest
from botocore.exceptions import BotoCoreError
from botocore.loaders import create_loader
from botocore.regions import EndpointResolver

LAYER = Path(__file__).resolve().parents[2] / "layers" / "dependencies"


def _kept_services() -> list[str]:
    """The model directories the layer Makefile keeps (BOTOCORE_SERVICES)."""
    found = re.search(r"^BOTOCORE_SERVICES \?= (.+)$", (LAYER / "Makefile").read_text(), re.MULTILINE)
    assert found is not None
    return found.group(1).split()


KEPT = _kept_services()


@pytest.fixture(scope="module")
def slim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slim_botocore_data", LAYER / "slim_botocore_data.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def full_endpoints() -> dict[str, Any]:
    return dict(create_loader().load_data("endpoints"))


@pytest.fixture(scope="module")
def slimmed_data(slim: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """botocore's data pruned as the Makefile prunes it, then slimmed by the script's main()."""
    source = Path(botocore.__file__).parent / "data"
    data = tmp_path_factory.mktemp("botocore-data")
    for service in KEPT:
        shutil.copytree(source / service, data / service)
    for top_level in source.glob("*.json"):
        shutil.copy(top_level, data / top_level.name)
    slim.main(data)
    return data


def _endpoint_prefixes(data: Path) -> set[str]:
    loader = create_loader()
    loader.search_paths.insert(0, str(data))
    return {loader.load_service_model(service, "service-2")["metadata"]["endpointPrefix"] for service in KEPT}


def _regions(endpoints: dict[str, Any], services: set[str]) -> set[str]:
    """Every region a partition names, every endpoint key of the services (fips-*, aws-global, ...), regions
    no partition lists whose names a partition's regex matches, and one that matches no partition."""
    regions = {"us-east-99", "cn-north-99", "eu-central-99", "xx-nowhere-1"}
    for partition in endpoints["partitions"]:
        regions.update(partition["regions"])
        for service in services:
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


def test_slim_endpoints_keep_only_the_kept_models_services_in_every_partition(
    slimmed_data: Path, full_endpoints: dict[str, Any]
) -> None:
    slimmed = json.loads((slimmed_data / "endpoints.json").read_bytes())
    prefixes = _endpoint_prefixes(slimmed_data)
    for partition, original in zip(slimmed["partitions"], full_endpoints["partitions"], strict=True):
        assert set(partition["services"]) == prefixes & set(original["services"])
        assert {k: v for k, v in partition.items() if k != "services"} == {
            k: v for k, v in original.items() if k != "services"
        }
    # Small enough to matter: the full file is parsed by every cold start's first client.
    assert (slimmed_data / "endpoints.json").stat().st_size < len(json.dumps(full_endpoints)) / 10


def test_slim_endpoints_name_services_by_endpoint_prefix_not_by_model_directory(
    slim: ModuleType, tmp_path: Path
) -> None:
    # cloudwatch's model lives in data/cloudwatch; endpoints.json knows it as "monitoring".
    source = Path(botocore.__file__).parent / "data"
    shutil.copytree(source / "cloudwatch", tmp_path / "cloudwatch")
    shutil.copy(source / "endpoints.json", tmp_path / "endpoints.json")
    slim.main(tmp_path)
    slimmed = json.loads((tmp_path / "endpoints.json").read_bytes())
    assert {name for p in slimmed["partitions"] for name in p["services"]} == {"monitoring"}


def test_slim_endpoints_resolve_every_kept_service_as_the_full_data_does(
    slimmed_data: Path, full_endpoints: dict[str, Any]
) -> None:
    full = EndpointResolver(full_endpoints, uses_builtin_data=True)
    slimmed = EndpointResolver(
        json.loads((slimmed_data / "endpoints.json").read_bytes()), uses_builtin_data=True
    )
    prefixes = _endpoint_prefixes(slimmed_data)
    compared = 0
    for service in sorted(prefixes):
        assert slimmed.get_available_endpoints(service) == full.get_available_endpoints(service)
        for region in sorted(_regions(full_endpoints, prefixes)):
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


# One call of each kept service, as the function (or the X-Ray SDK) makes it.
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "cloudformation": ("list_hook_results", {}),
    "s3": ("get_object", {"Bucket": "archive", "Key": "hook-results/_state/checkpoint.json"}),
    "events": ("put_events", {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]}),
    "sts": ("get_caller_identity", {}),
    "xray": ("put_trace_segments", {"TraceSegmentDocuments": ["{}"]}),
}


@pytest.mark.parametrize("service", KEPT)
def test_clients_on_the_slim_models_make_calls_as_on_the_full_ones(slimmed_data: Path, service: str) -> None:
    # Endpoint resolution reads the models' client context parameters at every call (S3's carry a
    # `documentation` that botocore indexes): building a client is not enough, a call must go through.
    import botocore.session  # noqa: PLC0415
    from botocore.stub import Stubber  # noqa: PLC0415

    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(slimmed_data))
    client = session.create_client(
        service,
        region_name="eu-west-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",  # noqa: S106
    )
    full = botocore.session.get_session().get_service_model(service)
    assert [p.name for p in client.meta.service_model.client_context_parameters] == [
        p.name for p in full.client_context_parameters
    ]
    method, request = CALLS[service]
    with Stubber(client) as stubber:
        stubber.add_response(method, {}, request)
        getattr(client, method)(**request)  # endpoint resolution and serialization run for real
