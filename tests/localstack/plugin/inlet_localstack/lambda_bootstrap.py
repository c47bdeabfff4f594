"""One Lambda execution environment as a host process (started by lambda_process.py).

Speaks LocalStack's executor protocol: posts ``status/<id>/ready`` (or ``error``) once the
handler is loaded, serves ``POST /invoke`` on 127.0.0.1, and for each invocation posts the logs it
printed and then ``response`` or ``error``. Python handlers are imported once, as the Lambda
Python runtime does; a Node handler runs in a fresh ``node`` process per invocation
(node_invoke.js).
Stdlib only: it runs on the runtime venv's Python, beside the function's own code.
"""

import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

ENDPOINT = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"]
RUNTIME_ID = os.environ["LOCALSTACK_RUNTIME_ID"]
PORT = int(os.environ["INLET_BOOTSTRAP_PORT"])
HANDLER = os.environ.get("_HANDLER", "")
RUNTIME = os.environ.get("INLET_RUNTIME", "")
TIMEOUT_SECONDS = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
NODE_INVOKE = Path(__file__).with_name("node_invoke.js")


def post(path: str, body: bytes) -> None:
    request = urllib.request.Request(f"{ENDPOINT}{path}", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


class Context:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    def __init__(self, request_id: str, function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + TIMEOUT_SECONDS

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_python_handler() -> Any:
    module_name, _, function_name = HANDLER.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)


def error_body(exc: BaseException) -> bytes:
    return json.dumps(
        {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc),
        }
    ).encode()


def run_python(handler: Any, event: Any, context: Context) -> tuple[bool, bytes]:
    try:
        return True, json.dumps(handler(event, context)).encode()
    except Exception as exc:
        traceback.print_exc()
        return False, error_body(exc)


def run_node(event: Any, context: Context) -> tuple[bool, bytes]:
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        env = dict(os.environ)
        env.update(
            INLET_RESULT_FILE=str(result_path),
            INLET_REQUEST_ID=context.aws_request_id,
            INLET_FUNCTION_ARN=context.invoked_function_arn,
        )
        completed = subprocess.run(
            ["node", str(NODE_INVOKE)],
            input=json.dumps(event).encode(),
            env=env,
            timeout=TIMEOUT_SECONDS + 5,
            check=False,
        )
        if completed.returncode == 0 and result_path.exists():
            outcome = json.loads(result_path.read_text())
            if outcome["ok"]:
                return True, json.dumps(outcome["result"]).encode()
            return False, json.dumps(outcome["error"]).encode()
        return False, error_body(RuntimeError(f"node exited with {completed.returncode}"))


def log_size() -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    return os.fstat(sys.stdout.fileno()).st_size


def logs_since(offset: int) -> str:
    sys.stdout.flush()
    sys.stderr.flush()
    with open(f"/proc/self/fd/{sys.stdout.fileno()}", "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def invoke(handler: Any, payload: dict[str, str]) -> None:
    request_id = payload["invoke-id"]
    context = Context(request_id, payload["invoked-function-arn"])
    event = json.loads(payload["payload"]) if payload["payload"] else {}
    offset = log_size()
    print(f"START RequestId: {request_id}", flush=True)
    if RUNTIME.startswith("nodejs"):
        ok, body = run_node(event, context)
    else:
        ok, body = run_python(handler, event, context)
    print(f"END RequestId: {request_id}", flush=True)
    base = f"/invocations/{request_id}"
    post(f"{base}/logs", json.dumps({"logs": logs_since(offset)}).encode())
    post(f"{base}/{'response' if ok else 'error'}", body)


class Server(BaseHTTPRequestHandler):
    handler: Any = None

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        payload = json.loads(self.rfile.read(length))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        threading.Thread(target=invoke, args=(Server.handler, payload), daemon=True).start()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def exit_with_parent() -> None:
    """Nothing outlives LocalStack: a SIGKILLed LocalStack cannot stop its environments."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def main() -> None:
    threading.Thread(target=exit_with_parent, daemon=True).start()
    server = HTTPServer(("127.0.0.1", PORT), Server)
    status = f"/status/{RUNTIME_ID}"
    try:
        if not RUNTIME.startswith("nodejs"):
            Server.handler = load_python_handler()
    except Exception as exc:
        traceback.print_exc()
        post(f"{status}/error", error_body(exc))
        return
    post(f"{status}/ready", b"{}")
    server.serve_forever()


if __name__ == "__main__":
    main()
