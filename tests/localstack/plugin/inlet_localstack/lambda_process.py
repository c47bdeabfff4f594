"""A Lambda runtime executor that runs each execution environment as a host process.

LocalStack's own executor starts a Docker container per environment; this one starts
``lambda_bootstrap.py`` on the Python named by ``INLET_LAMBDA_PYTHON`` (a venv holding only what
the Lambda Python runtime provides: boto3), which speaks LocalStack's executor protocol. Limits:
the handler runs on the host's CPU architecture, Python and Node, not the declared runtime; IAM is
not enforced; memory size is not enforced.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor

LOG = logging.getLogger(__name__)
BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def runtime_python() -> str:
    return os.environ.get("INLET_LAMBDA_PYTHON") or sys.executable


class ProcessRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.port = free_port()
        self.executor_endpoint = ExecutorEndpoint(
            self.id, container_address=HOST, container_port=self.port
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"inlet-lambda-{self.id}.log"

    def code_dir(self) -> Path:
        code = self.function_version.config.code
        if code is None:
            raise NotImplementedError("container image functions need Docker")
        return Path(code.get_unzipped_code_location())

    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        task_root = self.code_dir()
        env = {k: str(v) for k, v in env_vars.items()}
        env.update(
            LAMBDA_TASK_ROOT=str(task_root),
            INLET_BOOTSTRAP_PORT=str(self.port),
            INLET_RUNTIME=self.function_version.config.runtime or "",
            PATH=os.environ.get("PATH", ""),
            PYTHONPATH=str(task_root),
            PYTHONUNBUFFERED="1",
            # Lambda's Node runtime ships the AWS SDK; here it comes from the project's npm tree.
            NODE_PATH=os.environ.get("INLET_LAMBDA_NODE_PATH", ""),
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [runtime_python(), str(BOOTSTRAP)],
                cwd=task_root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        LOG.debug("lambda environment %s: pid %s port %s", self.id, self.process.pid, self.port)
        self.executor_endpoint.wait_for_startup()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        try:
            self.executor_endpoint.shutdown()
        except Exception as e:  # as LocalStack's own executor: stopping must not raise
            LOG.debug("stopping executor endpoint %s: %s", self.id, e)
        self.log_path.unlink(missing_ok=True)

    def get_address(self) -> str:
        return HOST

    def get_endpoint_from_executor(self) -> str:
        return HOST

    def get_runtime_endpoint(self) -> str:
        prefix = self.executor_endpoint.get_endpoint_prefix()
        return f"http://{HOST}:{config.GATEWAY_LISTEN[0].port}{prefix}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        return self.executor_endpoint.invoke(payload)

    def get_logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.code is not None:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return Path(runtime_python()).exists()


class ProcessExecutorPlugin(RuntimeExecutorPlugin):
    name = "process"

    def load(self, *args: object, **kwargs: object) -> type[RuntimeExecutor]:
        return ProcessRuntimeExecutor
