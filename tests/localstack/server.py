"""LocalStack in host mode from its own venv: install, start, wait for health, stop.

What is pinned and why lives here, once: the Makefile and the test session both call it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).with_name("plugin")
LOCALSTACK_VERSION = "2026.3.0"
# localstack-core 2026.3.0 with the companion pins it was found to run with in host mode on
# Python 3.13; other releases of them were not tried.
LOCALSTACK_REQUIREMENTS = (
    f"localstack-core[runtime]=={LOCALSTACK_VERSION}",
    "cbor2<6",
    "pyopenssl==24.3.0",
    "cryptography==44.0.3",
    "service-identity==24.2.0",
)
# What the Lambda Python runtime provides beside the function's own asset: boto3 and botocore.
LAMBDA_RUNTIME_REQUIREMENTS = ("boto3==1.40.74",)
# The services the tier uses; LocalStack's health lists each as "available" until first used.
HEALTHY_SERVICES = ("s3", "sqs", "lambda", "dynamodb", "cloudformation", "events", "ssm")
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


class TierError(RuntimeError):
    """A prerequisite is missing or LocalStack did not come up: said loudly, never skipped."""


def find_python313() -> str:
    """LocalStack 2026.3 runs on Python 3.13: the one named by LOCALSTACK_PYTHON, else on PATH,
    else pyenv's."""
    candidates = [os.environ.get("LOCALSTACK_PYTHON"), shutil.which("python3.13")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in pyenv_root.glob("versions/3.13*/bin/python3.13"))
    for candidate in candidates:
        # A pyenv shim is on PATH even where it cannot run the version it names.
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    raise TierError(
        "the LocalStack tier needs Python 3.13 (LocalStack's runtime): install it (e.g. "
        "`pyenv install 3.13`) or set LOCALSTACK_PYTHON to its path"
    )


def plugin_fingerprint() -> str:
    """The plugin's sources: it is reinstalled when they change."""
    digest = hashlib.sha256()
    for path in sorted((PLUGIN_DIR / "inlet_localstack").glob("*.*")):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update((PLUGIN_DIR / "pyproject.toml").read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Venvs:
    root: Path

    @property
    def localstack_python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def lambda_python(self) -> Path:
        return self.root / "lambda-runtime" / "bin" / "python"

    def ensure(self) -> None:
        """Both venvs, built when their pins change; the plugin reinstalled when it changes."""
        pins = "\n".join([*LOCALSTACK_REQUIREMENTS, *LAMBDA_RUNTIME_REQUIREMENTS])
        pins_stamp, plugin_stamp = self.root / "venvs.pins", self.root / "plugin.sha256"
        if not (pins_stamp.exists() and pins_stamp.read_text() == pins):
            python = find_python313()
            for venv, requirements in (
                (self.root / "venv", LOCALSTACK_REQUIREMENTS),
                (self.root / "lambda-runtime", LAMBDA_RUNTIME_REQUIREMENTS),
            ):
                shutil.rmtree(venv, ignore_errors=True)
                run([python, "-m", "venv", str(venv)])
                pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
                run([*pip, *requirements])
            pins_stamp.write_text(pins)
            plugin_stamp.unlink(missing_ok=True)
        if not (plugin_stamp.exists() and plugin_stamp.read_text() == plugin_fingerprint()):
            pip = [str(self.localstack_python), "-m", "pip", "install", "--quiet"]
            run([*pip, "--no-deps", "--force-reinstall", str(PLUGIN_DIR)])
            shutil.rmtree(PLUGIN_DIR / "build", ignore_errors=True)
            plugin_stamp.write_text(plugin_fingerprint())


def run(command: list[str]) -> None:
    print("+", " ".join(command), file=sys.stderr, flush=True)
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise TierError(f"failed ({completed.returncode}): {' '.join(command)}")


@dataclass
class LocalStack:
    """A LocalStack process this code started, or one at an endpoint someone else runs."""

    endpoint: str
    pid: int | None = None
    # Set when this process started it: waited for on stop, so no zombie is left.
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def external(self) -> bool:
        return self.pid is None

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_localstack/health", timeout=2) as r:
                body: dict[str, object] = json.load(r)
                return body
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def wait_healthy(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid is not None and not pid_alive(self.pid):
                raise TierError(f"LocalStack (pid {self.pid}) exited during start-up")
            health = self.health()
            services = health.get("services", {}) if health else {}
            if isinstance(services, dict) and all(
                services.get(name) in ("available", "running") for name in HEALTHY_SERVICES
            ):
                return
            time.sleep(0.25)
        raise TierError(f"LocalStack at {self.endpoint} not healthy after {timeout:.0f} s")

    def stop(self) -> None:
        if self.pid is None:
            return
        stop_process_group(self.pid, STOP_GRACE_SECONDS)
        if self.process is not None:
            self.process.wait(5)
            self.process = None
        self.pid = None


def pid_alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(pid: int, grace: float) -> None:
    """SIGTERM, then SIGKILL: LocalStack can ignore SIGTERM while a stack operation blocks."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def environment(state_dir: Path, port: int, venvs: Venvs) -> dict[str, str]:
    """LocalStack's configuration: loopback only, nothing written outside state_dir."""
    tmp = state_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INLET_"))}
    env.update(
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        GATEWAY_SERVER="hypercorn",
        LOCALSTACK_HOST=f"127.0.0.1:{port}",
        DNS_ADDRESS="0",
        # Queue URLs on the gateway's own address: the default names a host no resolver knows.
        SQS_ENDPOINT_STRATEGY="path",
        DISABLE_EVENTS="1",
        SKIP_SSL_CERT_DOWNLOAD="1",
        LOCALSTACK_VOLUME_DIR=str(state_dir / "volume"),
        TMPDIR=str(tmp),
        XDG_CACHE_HOME=str(state_dir / "cache"),
        # The plugin's parts (tests/localstack/plugin): Lambdas as host processes, DynamoDB on moto.
        LAMBDA_RUNTIME_EXECUTOR="process",
        PROVIDER_OVERRIDE_DYNAMODB="moto",
        INLET_LAMBDA_PYTHON=str(venvs.lambda_python),
        INLET_LAMBDA_NODE_PATH=str(REPO_ROOT / "node_modules"),
        # Said explicitly: LocalStack warns that this fallback will become opt-in.
        CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES="1",
    )
    return env


def start(state_dir: Path, port: int, venvs: Venvs) -> LocalStack:
    """Start LocalStack in its own process group; its output goes to state_dir/localstack.log."""
    venvs.ensure()
    state_dir.mkdir(parents=True, exist_ok=True)
    log = (state_dir / "localstack.log").open("ab")
    process = subprocess.Popen(
        [str(venvs.localstack_python), "-m", "localstack.runtime.main"],
        env=environment(state_dir, port, venvs),
        cwd=state_dir,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    localstack = LocalStack(endpoint=f"http://127.0.0.1:{port}", pid=process.pid, process=process)
    try:
        localstack.wait_healthy()
    except BaseException:
        localstack.stop()
        raise
    return localstack
