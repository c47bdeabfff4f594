"""`make localstack` / `make localstack-stop`: LocalStack with both Inlet stacks deployed from
cdk.out, and `.localstack/inlet.env` for `inlet relay` and the CLI.

    python -m tests.localstack.tier up [--env staging] [--cdk-out cdk.out]
    python -m tests.localstack.tier down
    python -m tests.localstack.tier venvs    (build LocalStack's venvs only)

With LOCALSTACK_ENDPOINT set, the LocalStack there is used (e.g. Docker on a laptop, where Lambda
and DynamoDB are native) and nothing is started or stopped; `down` then deletes the stacks.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from tests.localstack import deploy, server

STATE_DIR = server.REPO_ROOT / ".localstack"
DEFAULT_PORT = 4566
# The relay's settings as the deployed task definition has them, but for these, which describe
# the container on AWS rather than a process on this host:
NOT_ON_THE_HOST = {
    # No NLB in front of a host process: a client's first line would be refused as a bad header.
    "INLET_PROXY_PROTOCOL",
}


@dataclass(frozen=True)
class Tier:
    """A deployment on LocalStack: where it is and what it is called."""

    endpoint: str
    region: str
    bucket: str
    table: str
    parse_queue: str
    parse_dlq: str
    index_queue: str
    index_dlq: str
    event_bus: str
    relay_settings: dict[str, str]
    stacks: tuple[str, ...]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def environment(self) -> dict[str, str]:
        """What `inlet relay` and the CLI need: standard AWS variables and Inlet settings."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            **self.relay_settings,
            "INLET_BUCKET": self.bucket,
            "INLET_TABLE": self.table,
            # Where `inlet replay` puts events, as the index function does.
            "INLET_EVENT_BUS": self.event_bus,
            # Not Inlet settings (an unknown INLET_ variable is refused): for tests and scripts.
            "LOCALSTACK_PARSE_QUEUE_URL": self.parse_queue,
            "LOCALSTACK_PARSE_DLQ_URL": self.parse_dlq,
            "LOCALSTACK_INDEX_QUEUE_URL": self.index_queue,
            "LOCALSTACK_INDEX_DLQ_URL": self.index_dlq,
        }

    def write_env(self, path: Path) -> None:
        lines = [
            "# Written by `make localstack`: `. .localstack/inlet.env`, then inlet relay or CLI."
        ]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in self.environment().items()]
        path.write_text("\n".join(lines) + "\n")


def relay_settings(template: dict[str, Any]) -> dict[str, str]:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            for container in resource["Properties"]["ContainerDefinitions"]:
                settings = {
                    e["Name"]: str(e["Value"])
                    for e in container.get("Environment") or []
                    if e["Name"].startswith("INLET_") and e["Name"] not in NOT_ON_THE_HOST
                }
                if settings:
                    return settings
    raise ValueError("the Pipeline template has no relay task definition")


def tier_of(deployed: deploy.Deployed, endpoint: str) -> Tier:
    storage = next(v for k, v in deployed.outputs.items() if k.endswith("-Storage"))
    pipeline = next(v for k, v in deployed.templates.items() if k.endswith("-Pipeline"))
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=deployed.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )

    def queue(marker: str) -> str:
        name = next(
            v for k, v in storage.items() if k.startswith(f"PublishOutputFnGetAtt{marker}QueueName")
        )
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])

    deployed_tier = Tier(
        endpoint=endpoint,
        region=deployed.region,
        bucket=storage["BucketName"],
        table=storage["TableName"],
        parse_queue=queue("ParseQueue"),
        parse_dlq=queue("ParseDeadLetterQueue"),
        index_queue=queue("IndexQueue"),
        index_dlq=queue("IndexDeadLetterQueue"),
        event_bus=storage["EventBusName"],
        relay_settings=relay_settings(pipeline),
        stacks=tuple(deployed.outputs),
    )
    check_notifications(deployed_tier)
    return deployed_tier


def check_notifications(deployed: Tier) -> None:
    """The bucket notifies the queues: CDK configures that with a custom resource, which a
    LocalStack without the plugin's provider (community, e.g. in Docker) deploys as a no-op."""
    configuration = deployed.client("s3").get_bucket_notification_configuration(
        Bucket=deployed.bucket
    )
    if not configuration.get("QueueConfigurations"):
        raise server.TierError(
            f"bucket {deployed.bucket} has no notifications: this LocalStack did not run the "
            "stack's custom resources; install tests/localstack/plugin into it (docs/testing.md)"
        )


def up(cdk_out: Path, state_dir: Path, port: int) -> Tier:
    started = time.monotonic()
    external = os.environ.get("LOCALSTACK_ENDPOINT")
    if external:
        localstack = server.LocalStack(endpoint=external.rstrip("/"))
        localstack.wait_healthy(10)
    else:
        pid_file = state_dir / "localstack.pid"
        localstack = running(pid_file, port) or server.start(
            state_dir / "state", port, server.Venvs(state_dir)
        )
        pid_file.write_text(str(localstack.pid))
    tier = tier_of(deploy.deploy(cdk_out, localstack.endpoint), localstack.endpoint)
    tier.write_env(state_dir / "inlet.env")
    where = "external" if localstack.external else f"pid {localstack.pid}"
    print(
        f"localstack: {localstack.endpoint} ({where}); deployed {', '.join(tier.stacks)} "
        f"from {cdk_out} in {time.monotonic() - started:.1f} s; wrote {state_dir / 'inlet.env'}"
    )
    return tier


def running(pid_file: Path, port: int) -> server.LocalStack | None:
    """The LocalStack an earlier `make localstack` started, if it is still up."""
    if not pid_file.exists():
        return None
    localstack = server.LocalStack(
        endpoint=f"http://127.0.0.1:{port}", pid=int(pid_file.read_text())
    )
    if server.pid_alive(localstack.pid or 0) and localstack.health() is not None:
        return localstack
    return None


def down(cdk_out: Path, state_dir: Path) -> None:
    external = os.environ.get("LOCALSTACK_ENDPOINT")
    if external:
        deploy.destroy(cdk_out, external.rstrip("/"), deploy.assembly_region(cdk_out))
        print(f"localstack: deleted the stacks at {external}")
        return
    pid_file = state_dir / "localstack.pid"
    if not pid_file.exists():
        print("localstack: nothing to stop")
        return
    pid = int(pid_file.read_text())
    server.stop_process_group(pid, server.STOP_GRACE_SECONDS)
    pid_file.unlink()
    (state_dir / "inlet.env").unlink(missing_ok=True)
    print(f"localstack: stopped pid {pid}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.localstack.tier")
    parser.add_argument("command", choices=["up", "down", "venvs"])
    parser.add_argument("--cdk-out", type=Path, default=server.REPO_ROOT / "cdk.out")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        if args.command == "venvs":
            server.Venvs(args.state_dir).ensure()
        elif args.command == "up":
            up(args.cdk_out, args.state_dir, args.port)
        else:
            down(args.cdk_out, args.state_dir)
    except (server.TierError, RuntimeError, TimeoutError, ValueError, ClientError) as exc:
        print(f"localstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
