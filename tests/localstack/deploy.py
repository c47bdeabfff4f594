"""Deploy a synthesized cloud assembly (cdk.out) to LocalStack as `cdk deploy` would.

The file assets go where the CDK bootstrap layout puts them (the `cdk-hnb659fds-assets-…`
bucket, under the keys the templates name), the bootstrap version parameter exists, and each
stack is created from its own template in that bucket, in dependency order. The only template
changes are in template_edits.py. Container images are not published (there is no Docker, and
the relay runs as a host process instead).
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.localstack import template_edits

LOG = logging.getLogger(__name__)
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
# The version `cdk bootstrap` writes with the pinned CLI; templates require at least 6.
BOOTSTRAP_VERSION = "29"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
STACK_TIMEOUT_SECONDS = 600.0


@dataclass
class Deployed:
    """What `inlet.env` and the tests need from a deployment."""

    region: str
    account: str
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_assembly(cdk_out: Path) -> list[dict[str, Any]]:
    """The stack artifacts of the assembly, dependencies first."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    artifacts: dict[str, dict[str, Any]] = manifest["artifacts"]
    stacks = {k: v for k, v in artifacts.items() if v["type"] == "aws:cloudformation:stack"}
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered or name not in stacks:
            return
        for dep in stacks[name].get("dependencies", []):
            visit(dep)
        ordered.append(name)

    for name in stacks:
        visit(name)
    return [{"name": n, **stacks[n]} for n in ordered]


def assembly_region(cdk_out: Path) -> str:
    """The region the stacks are synthesized for (their environment is aws://account/region)."""
    environment: str = read_assembly(cdk_out)[0]["environment"]
    return environment.rsplit("/", 1)[1]


def substitute(text: str, account: str, region: str) -> str:
    return (
        text.replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
        .replace("${AWS::Partition}", "aws")
    )


def zip_directory(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(file.relative_to(path)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (file.stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    return buffer.getvalue()


def publish_file_assets(
    s3: BaseClient, cdk_out: Path, manifest: Path, account: str, region: str
) -> None:
    assets = json.loads(manifest.read_text())
    for asset in assets.get("files", {}).values():
        source = cdk_out / asset["source"]["path"]
        body = (
            zip_directory(source)
            if asset["source"].get("packaging") == "zip"
            else source.read_bytes()
        )
        for destination in asset["destinations"].values():
            bucket = substitute(destination["bucketName"], account, region)
            ensure_bucket(s3, bucket)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)


def ensure_bucket(s3: BaseClient, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)


def ensure_bootstrap_version(ssm: BaseClient) -> None:
    ssm.put_parameter(
        Name=BOOTSTRAP_VERSION_PARAMETER, Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )


def stack_outputs(cloudformation: BaseClient, name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stack_status(cloudformation: BaseClient, name: str) -> str | None:
    try:
        return str(cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def wait_for(cloudformation: BaseClient, name: str, done: Iterable[str]) -> str:
    deadline = time.monotonic() + STACK_TIMEOUT_SECONDS
    done = set(done)
    while time.monotonic() < deadline:
        status = stack_status(cloudformation, name) or "DELETE_COMPLETE"
        if status in done:
            return status
        if status.endswith(("_FAILED", "ROLLBACK_COMPLETE")):
            reasons = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
                for e in cloudformation.describe_stack_events(StackName=name)["StackEvents"]
                if e["ResourceStatus"].endswith("FAILED")
            ]
            raise RuntimeError(f"{name}: {status}: " + "; ".join(reasons[:5]))
        time.sleep(0.5)
    raise TimeoutError(f"{name}: not done after {STACK_TIMEOUT_SECONDS:.0f} s")


def deploy_stack(
    cloudformation: BaseClient,
    s3: BaseClient,
    name: str,
    template: dict[str, Any],
    bucket: str,
    endpoint: str,
) -> None:
    key = f"localstack/{name}.template.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(template).encode())
    url = f"{endpoint}/{bucket}/{key}"
    args = {"StackName": name, "TemplateURL": url, "Capabilities": CAPABILITIES}
    if stack_status(cloudformation, name) is None:
        cloudformation.create_stack(**args)
        wait_for(cloudformation, name, {"CREATE_COMPLETE"})
        return
    deployed = cloudformation.get_template(StackName=name)["TemplateBody"]
    if (json.loads(deployed) if isinstance(deployed, str) else deployed) == template:
        return
    try:
        cloudformation.update_stack(**args)
    except ClientError as exc:
        if "No updates are to be performed" in str(exc):
            return
        # LocalStack 2026.3 rejects some updates its create accepts (Fn::Select in the
        # dashboard body): start again rather than leave a half-updated tier.
        raise RuntimeError(
            f"{name}: LocalStack refused the update ({exc}); "
            "run `make localstack-stop`, then `make localstack`"
        ) from exc
    wait_for(cloudformation, name, {"UPDATE_COMPLETE"})


def deploy(
    cdk_out: Path,
    endpoint: str,
    *,
    region: str | None = None,
    account: str = "000000000000",
) -> Deployed:
    """Deploy every stack of the assembly at cdk_out; returns the outputs and templates used."""
    stacks = read_assembly(cdk_out)
    region = region or assembly_region(cdk_out)
    session = boto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=region
    )
    s3 = session.client("s3", endpoint_url=endpoint)
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    ensure_bootstrap_version(session.client("ssm", endpoint_url=endpoint))
    deployed = Deployed(region=region, account=account)
    for stack in stacks:
        name = stack["name"]
        properties = stack["properties"]
        for dep in stack.get("dependencies", []):
            if dep.endswith(".assets"):
                publish_file_assets(s3, cdk_out, cdk_out / f"{dep}.json", account, region)
        template = json.loads((cdk_out / properties["templateFile"]).read_text())
        template = template_edits.resolve_stack_outputs(template, deployed.outputs)
        bucket = substitute(
            properties["stackTemplateAssetObjectUrl"].removeprefix("s3://").split("/", 1)[0],
            account,
            region,
        )
        deploy_stack(cloudformation, s3, name, template, bucket, endpoint)
        deployed.outputs[name] = stack_outputs(cloudformation, name)
        deployed.templates[name] = template
    return deployed


def destroy(cdk_out: Path, endpoint: str, region: str) -> None:
    session = boto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=region
    )
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    for stack in reversed(read_assembly(cdk_out)):
        if stack_status(cloudformation, stack["name"]) is not None:
            cloudformation.delete_stack(StackName=stack["name"])
            wait_for(cloudformation, stack["name"], {"DELETE_COMPLETE"})
