"""Test helpers: one botocore fault injector, used wherever a test makes an AWS call fail.

`Fault` is a `before-call` hook that answers a call with an error response, exactly as the
service would (botocore raises the ClientError itself; nothing is patched). Registered at
before-call, it short-circuits the request: moto's in-process stub would still act on a
before-send one.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse


@dataclass
class Fault:
    code: str  # the service's error code, e.g. "InternalError", "SlowDown"
    status: int = 500
    nth: int | None = None  # fail only the nth matching call (1 = the first); None: every one
    # Fail only calls whose URL path this accepts (S3 keys are in the path).
    path: Callable[[str], bool] = lambda _: True
    calls: int = 0  # matching calls seen

    def __call__(
        self, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not self.path(params["url_path"]):
            return None
        self.calls += 1
        if self.nth is not None and self.calls != self.nth:
            return None
        error = {"Code": self.code, "Message": "injected"}
        return AWSResponse("https://aws.test", self.status, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": self.status},
        }
