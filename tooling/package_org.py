"""Package the member StackSet: build once, publish to one artefact bucket per region.

Lambda reads a function's code from a bucket of the function's own region, so a StackSet that deploys the
archiver to several regions needs the same zips in each. This writes, under --out:
- archiver-<sha256>.zip and dependencies-<sha256>.zip: the built function and layer (.aws-sam/build), zipped
  deterministically (sorted entries, fixed timestamps), so an unchanged build keeps its keys;
- member.json: the member template (tooling/member_template.py) pointing at those keys.

With --publish it uploads both zips to <prefix>-<region> for each region (creating the bucket if needed:
versioned, public access blocked, TLS only, readable by the Organization's principals, which is whom
CloudFormation calls Lambda as when a StackSet deploys) and member.json to the first region's bucket, and
prints the template URL for `aws cloudformation create-stack-set --template-url`. Clients are built the
standard boto3 way (credentials chain, AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from tooling.member_template import member_template

KEY_PREFIX = "cfn-hook-archive"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def deterministic_zip(directory: Path) -> bytes:
    """The directory's files, sorted, with fixed timestamps and modes: same content, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def package(build_dir: Path, transformed: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write the zips and the member template under `out`; return {key: local file}."""
    out.mkdir(parents=True, exist_ok=True)
    layer_dirs = [p for p in build_dir.iterdir() if p.name.startswith("DependenciesLayer")]
    if len(layer_dirs) != 1 or not (build_dir / "ArchiverFunction").is_dir():
        raise SystemExit(f"{build_dir} is not a sam build of template.yaml: run `make build` first")
    files: dict[str, Path] = {}
    keys = {}
    for name, directory in (("archiver", build_dir / "ArchiverFunction"), ("dependencies", layer_dirs[0])):
        body = deterministic_zip(directory)
        key = f"{KEY_PREFIX}/{name}-{hashlib.sha256(body).hexdigest()[:20]}.zip"
        target = out / Path(key).name
        target.write_bytes(body)
        files[key] = target
        keys[name] = key
    template = member_template(transformed, function_key=keys["archiver"], layer_key=keys["dependencies"])
    member = out / "member.json"
    member.write_text(json.dumps(template, indent=1, sort_keys=True) + "\n")
    files[f"{KEY_PREFIX}/member-{hashlib.sha256(member.read_bytes()).hexdigest()[:20]}.json"] = member
    return files


def artefact_bucket_policy(bucket: str, organization_id: str, partition: str = "aws") -> dict[str, Any]:
    arn = f"arn:{partition}:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "OrganizationReadsArtefacts",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"{arn}/{KEY_PREFIX}/*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
            },
        ],
    }


def publish(files: dict[str, Path], *, prefix: str, regions: list[str], organization_id: str) -> str:
    """Upload to <prefix>-<region> for each region; return the member template's URL."""
    import boto3  # noqa: PLC0415  # only publishing needs AWS

    template_url = ""
    session = boto3.session.Session()  # the standard chain, read now (not a process-wide default session)
    for index, region in enumerate(regions):
        bucket = f"{prefix}-{region}"
        s3 = session.client("s3", region_name=region)
        _ensure_bucket(s3, bucket, region, organization_id)
        for key, path in files.items():
            if path.suffix == ".json" and index:
                continue  # the StackSet reads its template once, from the first region's bucket
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            if path.suffix == ".json":
                template_url = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
        print(f"published {len(files)} artefacts to s3://{bucket}/{KEY_PREFIX}/", file=sys.stderr)
    return template_url


def _ensure_bucket(s3: Any, bucket: str, region: str, organization_id: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in {"404", "NoSuchBucket"}:
            raise
        elsewhere = {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **({} if region == "us-east-1" else elsewhere))
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(artefact_bucket_policy(bucket, organization_id)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--transformed", type=Path, required=True, help="tooling/sam_transform.py's output")
    parser.add_argument("--out", type=Path, default=Path(".aws-sam/org"))
    parser.add_argument("--regions", nargs="*", default=[])
    parser.add_argument("--artifact-bucket-prefix", default="")
    parser.add_argument("--organization-id", default="", help="default: the caller's Organization")
    args = parser.parse_args(argv)
    files = package(args.build_dir, json.loads(args.transformed.read_text()), args.out)
    for key, path in files.items():
        print(f"{path}  ->  {key}")
    if not args.artifact_bucket_prefix:
        print("not published: set ARTIFACT_BUCKET_PREFIX and REGIONS to upload", file=sys.stderr)
        return 0
    if not args.regions:
        raise SystemExit('REGIONS: the regions the StackSet deploys to, e.g. REGIONS="us-east-1 eu-west-1"')
    organization_id = args.organization_id
    if not organization_id:
        import boto3  # noqa: PLC0415

        organization_id = boto3.client("organizations").describe_organization()["Organization"]["Id"]
    url = publish(
        files, prefix=args.artifact_bucket_prefix, regions=args.regions, organization_id=organization_id
    )
    print(f"member template: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
