"""The LocalStack tier: one LocalStack per test session, both stacks deployed from templates the
pinned CDK CLI synthesizes for this run, and `inlet` processes configured by the env file.

LOCALSTACK_ENDPOINT selects an external LocalStack instead. A missing prerequisite (Python 3.13,
the LocalStack venv, the CDK CLI) fails the session: the tier is never skipped.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from inlet.blobstore.s3 import S3BlobStore
from inlet.message_store import MessageStore
from tests.localstack import deploy, server, tier
from tests.processes import inlet_process

CDK = server.REPO_ROOT / "node_modules" / ".bin" / "cdk"
ENV = "staging"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def read_env_file(path: Path) -> dict[str, str]:
    """The variables a shell gets from `. inlet.env`."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            values[name] = shlex.split(value)[0] if value else ""
    return values


def synthesize(out: Path) -> Path:
    if not CDK.exists():
        raise server.TierError(f"{CDK} is missing: run `make test` (it runs npm ci)")
    started = time.monotonic()
    done = subprocess.run(
        [str(CDK), "synth", "--quiet", "--context", f"env={ENV}", "--output", str(out)],
        cwd=server.REPO_ROOT,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise server.TierError(f"cdk synth failed ({done.returncode}):\n{done.stderr}")
    print(
        f"\nlocalstack tier: synthesized {ENV} in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return out


@dataclass
class Deployment:
    tier: tier.Tier
    env_file: Path
    cdk_out: Path
    templates: dict[str, dict[str, Any]]
    localstack: server.LocalStack

    @property
    def env(self) -> dict[str, str]:
        """A process environment: this one's PATH and HOME, then the env file's variables."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INLET_"))}
        return {**base, **read_env_file(self.env_file)}

    def client(self, service: str) -> Any:
        return self.tier.client(service)

    def inlet(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """The `inlet` CLI as a user runs it after `. .localstack/inlet.env`."""
        done = self._run_inlet(args, check=check, timeout=timeout)
        return subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )

    def inlet_bytes(self, *args: str, timeout: float = 60) -> bytes:
        """What `inlet ARGS` prints, byte for byte (for --raw)."""
        return self._run_inlet(args, check=True, timeout=timeout).stdout

    def _run_inlet(
        self, args: tuple[str, ...], *, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            [sys.executable, "-m", "inlet", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            error = done.stderr.decode(errors="replace")
            raise AssertionError(f"inlet {' '.join(args)}: exit {done.returncode}\n{error}")
        return done


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("localstack")
    started = time.monotonic()
    cdk_out = synthesize(root / "cdk.out")
    external = os.environ.get("LOCALSTACK_ENDPOINT")
    if external:
        localstack = server.LocalStack(endpoint=external.rstrip("/"))
        localstack.wait_healthy(10)
    else:
        localstack = server.start(root / "state", free_port(), server.Venvs(tier.STATE_DIR))
    try:
        deployed = deploy.deploy(cdk_out, localstack.endpoint)
        the_tier = tier.tier_of(deployed, localstack.endpoint)
        env_file = root / "inlet.env"
        the_tier.write_env(env_file)
        print(f"localstack tier: ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
        yield Deployment(the_tier, env_file, cdk_out, deployed.templates, localstack)
    finally:
        if external:
            deploy.destroy(cdk_out, localstack.endpoint, deploy.assembly_region(cdk_out))
        localstack.stop()


@pytest.fixture(scope="session")
def relay_port(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """An `inlet relay` process configured by the env file alone (SMTP on a free port)."""
    with inlet_process(tmp_path_factory.mktemp("relay"), "relay", env=deployment.env) as (
        _,
        port,
        _health,
    ):
        yield port


@pytest.fixture(scope="session")
def messages(deployment: Deployment) -> MessageStore:
    """The deployed bucket, read directly (not through the CLI)."""
    return MessageStore(S3BlobStore(deployment.client("s3"), deployment.tier.bucket))
