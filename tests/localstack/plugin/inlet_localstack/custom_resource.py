"""CloudFormation custom resources, as CloudFormation runs them.

Community LocalStack deploys ``Custom::*`` resources as no-ops, so CDK's bucket notifications
are never configured. This provider does what CloudFormation does: it invokes the ServiceToken
Lambda asynchronously with the custom resource request (every scalar property as a string), and
waits for the handler's PUT to the ResponseURL, which is a route on LocalStack's own gateway.
"""

import json
import logging
import threading
import uuid
from typing import Any, ClassVar

from localstack import config
from localstack.http import Request, Response, route
from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)
from localstack.services.edge import ROUTER

LOG = logging.getLogger(__name__)
ROUTE_PREFIX = "/_inlet/cfn-response"
# CloudFormation waits up to an hour; a test tier should fail sooner than that.
RESPONSE_TIMEOUT_SECONDS = 300.0


class _Responses:
    """The PUTs handlers send to their ResponseURL, by token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}

    def expect(self, token: str) -> None:
        with self._lock:
            self._waiting[token] = (threading.Event(), [])

    def wait(self, token: str, timeout: float) -> dict[str, Any] | None:
        event, box = self._waiting[token]
        event.wait(timeout)
        with self._lock:
            self._waiting.pop(token, None)
        return box[0] if box else None

    @route(f"{ROUTE_PREFIX}/<token>", methods=["PUT"])
    def receive(self, request: Request, token: str) -> Response:
        with self._lock:
            waiting = self._waiting.get(token)
        if waiting is None:
            return Response(status=404)
        event, box = waiting
        box.append(json.loads(request.get_data() or b"{}"))
        event.set()
        return Response(status=200)


_responses: _Responses | None = None
_responses_lock = threading.Lock()


def responses() -> _Responses:
    global _responses
    with _responses_lock:
        if _responses is None:
            _responses = _Responses()
            ROUTER.add(_responses)
        return _responses


def as_cloudformation_sends(value: Any) -> Any:
    """CloudFormation passes every scalar property to a custom resource as a string."""
    if isinstance(value, dict):
        return {k: as_cloudformation_sends(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_cloudformation_sends(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Properties = dict[str, Any]
# Keys this provider adds to the resource model; never sent back to the handler as properties.
OWN_KEYS = ("PhysicalResourceId", "Data")


class CustomResourceProvider(ResourceProvider[Properties]):
    TYPE = "AWS::CloudFormation::CustomResource"
    SCHEMA: ClassVar[dict[str, Any]] = {
        "typeName": TYPE,
        "primaryIdentifier": ["/properties/PhysicalResourceId"],
        "properties": {},
    }

    def create(self, request: ResourceRequest[Properties]) -> ProgressEvent[Properties]:
        return self._run("Create", request)

    def update(self, request: ResourceRequest[Properties]) -> ProgressEvent[Properties]:
        return self._run("Update", request)

    def delete(self, request: ResourceRequest[Properties]) -> ProgressEvent[Properties]:
        return self._run("Delete", request)

    def _run(self, kind: str, request: ResourceRequest[Properties]) -> ProgressEvent[Properties]:
        props = {k: v for k, v in request.desired_state.items() if k not in OWN_KEYS}
        previous = request.previous_state or {}
        token = uuid.uuid4().hex
        port = config.GATEWAY_LISTEN[0].port
        body: dict[str, Any] = {
            "RequestType": kind,
            "ServiceToken": props["ServiceToken"],
            "ResponseURL": f"http://127.0.0.1:{port}{ROUTE_PREFIX}/{token}",
            "StackId": request.stack_id,
            "RequestId": token,
            "LogicalResourceId": request.logical_resource_id,
            "ResourceType": request.resource_type,
            "ResourceProperties": as_cloudformation_sends(props),
        }
        physical_id = request.desired_state.get("PhysicalResourceId") or previous.get(
            "PhysicalResourceId"
        )
        if kind != "Create":
            body["PhysicalResourceId"] = physical_id
        if kind == "Update":
            old = {k: v for k, v in previous.items() if k not in OWN_KEYS}
            body["OldResourceProperties"] = as_cloudformation_sends(old)

        waiting = responses()
        waiting.expect(token)
        request.aws_client_factory.lambda_.invoke(
            FunctionName=props["ServiceToken"],
            InvocationType="Event",
            Payload=json.dumps(body).encode(),
        )
        answer = waiting.wait(token, RESPONSE_TIMEOUT_SECONDS)
        if answer is None:
            return ProgressEvent(
                status=OperationStatus.FAILED,
                resource_model={},
                message=f"{request.logical_resource_id}: no response from the custom resource "
                f"handler within {RESPONSE_TIMEOUT_SECONDS:.0f} s",
            )
        if answer.get("Status") != "SUCCESS":
            return ProgressEvent(
                status=OperationStatus.FAILED,
                resource_model={},
                message=f"{request.logical_resource_id}: {answer.get('Reason', 'FAILED')}",
            )
        if kind == "Delete":
            return ProgressEvent(status=OperationStatus.SUCCESS, resource_model={})
        model = dict(props)
        data = answer.get("Data") or {}
        model.update(data)
        model["Data"] = data
        model["PhysicalResourceId"] = answer.get("PhysicalResourceId") or token
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


class CustomResourcePlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::CloudFormation::CustomResource"

    def __init__(self) -> None:
        self.factory: type[ResourceProvider[Properties]] | None = None

    def load(self) -> None:
        self.factory = CustomResourceProvider
