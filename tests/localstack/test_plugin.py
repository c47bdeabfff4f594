"""The LocalStack plugin's own tests (tests/localstack/plugin), on the session's LocalStack."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
import zipfile

import pytest

from tests.localstack.conftest import Deployment
from tests.localstack.deploy import wait_for

pytestmark = [pytest.mark.localstack, pytest.mark.timeout(300)]
ROLE = "arn:aws:iam::000000000000:role/plugin-test"

PYTHON_HANDLER = """
import os

def handler(event, context):
    print("a log line from the handler")
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {
        "echo": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "remaining_ms_positive": context.get_remaining_time_in_millis() > 0,
        "setting": os.environ["SETTING"],
        "endpoint": os.environ["AWS_ENDPOINT_URL"],
    }
"""

NODE_HANDLER = """
exports.handler = async (event, context) => {
  console.log("a log line from node");
  if (event.fail) { throw new Error("asked to fail"); }
  return { echo: event, requestId: context.awsRequestId };
};
"""

# A custom resource handler as CDK writes them: answers CloudFormation at the ResponseURL.
CUSTOM_RESOURCE_HANDLER = """
import json, urllib.request, boto3

def handler(event, context):
    props = event["ResourceProperties"]
    if event["RequestType"] == "Delete":
        boto3.client("s3").put_object(Bucket=props["Bucket"], Key="deleted", Body=b"")
    body = {
        "Status": "SUCCESS",
        "PhysicalResourceId": "answer-" + props["Bucket"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {"Answer": "42", "NumberType": type(props["Number"]).__name__},
    }
    data = json.dumps(body).encode()
    request = urllib.request.Request(event["ResponseURL"], data=data, method="PUT")
    urllib.request.urlopen(request).read()
"""


def zipped(name: str, source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


def create_function(deployment: Deployment, runtime: str, filename: str, source: str) -> str:
    lambda_ = deployment.client("lambda")
    name = f"plugin-{runtime.replace('.', '')}-{uuid.uuid4().hex[:8]}"
    lambda_.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler=f"{filename.split('.')[0]}.handler",
        Code={"ZipFile": zipped(filename, source)},
        Environment={"Variables": {"SETTING": "from-the-function-config"}},
        Timeout=30,
    )
    lambda_.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def invoke(deployment: Deployment, name: str, event: dict[str, object]) -> dict[str, object]:
    result = deployment.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail"
    )
    return {
        "error": result.get("FunctionError"),
        "payload": json.loads(result["Payload"].read()),
        "logs": base64.b64decode(result.get("LogResult", "")).decode(),
    }


def test_a_python_function_runs_as_a_host_process_with_its_context_and_environment(
    deployment: Deployment,
) -> None:
    name = create_function(deployment, "python3.13", "index.py", PYTHON_HANDLER)
    ok = invoke(deployment, name, {"x": 1})
    assert ok["error"] is None
    payload = ok["payload"]
    assert isinstance(payload, dict)
    assert payload["echo"] == {"x": 1}
    assert payload["function_name"] == name
    assert payload["remaining_ms_positive"] is True
    assert payload["setting"] == "from-the-function-config"
    assert payload["endpoint"] == deployment.tier.endpoint
    assert "a log line from the handler" in str(ok["logs"])
    failed = invoke(deployment, name, {"fail": True})
    assert failed["error"] == "Unhandled"
    assert failed["payload"] == {
        "errorMessage": "asked to fail",
        "errorType": "ValueError",
        "stackTrace": failed["payload"]["stackTrace"],  # type: ignore[index]
    }


def test_a_node_function_runs_under_the_hosts_node(deployment: Deployment) -> None:
    name = create_function(deployment, "nodejs22.x", "index.js", NODE_HANDLER)
    ok = invoke(deployment, name, {"y": "z"})
    assert ok["error"] is None
    assert ok["payload"] == {"echo": {"y": "z"}, "requestId": ok["payload"]["requestId"]}  # type: ignore[index]
    failed = invoke(deployment, name, {"fail": True})
    assert failed["error"] == "Unhandled"
    assert failed["payload"]["errorMessage"] == "asked to fail"  # type: ignore[index]


def test_a_custom_resource_is_created_and_deleted_through_its_handler(
    deployment: Deployment,
) -> None:
    s3 = deployment.client("s3")
    bucket = f"plugin-custom-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    template = {
        "Resources": {
            "Handler": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.13",
                    "Handler": "index.handler",
                    "Role": ROLE,
                    "Timeout": 30,
                    "Code": {"ZipFile": CUSTOM_RESOURCE_HANDLER},
                },
            },
            "Answer": {
                "Type": "Custom::Answer",
                "Properties": {
                    "ServiceToken": {"Fn::GetAtt": ["Handler", "Arn"]},
                    "Bucket": bucket,
                    "Number": 7,
                },
            },
        },
        "Outputs": {
            "Answer": {"Value": {"Fn::GetAtt": ["Answer", "Answer"]}},
            "NumberType": {"Value": {"Fn::GetAtt": ["Answer", "NumberType"]}},
            "Physical": {"Value": {"Ref": "Answer"}},
        },
    }
    cloudformation = deployment.client("cloudformation")
    stack = f"plugin-custom-{uuid.uuid4().hex[:8]}"
    cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    wait_for(cloudformation, stack, {"CREATE_COMPLETE"})
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    }
    # CloudFormation hands every scalar property to the handler as a string.
    assert outputs == {"Answer": "42", "NumberType": "str", "Physical": f"answer-{bucket}"}
    cloudformation.delete_stack(StackName=stack)
    wait_for(cloudformation, stack, {"DELETE_COMPLETE"})
    deadline = time.monotonic() + 30
    while "Contents" not in s3.list_objects_v2(Bucket=bucket) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["deleted"]


def test_dynamodb_is_served_by_moto(deployment: Deployment) -> None:
    dynamodb = deployment.client("dynamodb")
    table = f"plugin-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(
            TableName=table,
            Item={"pk": {"S": "a"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": "1"}
