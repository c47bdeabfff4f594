"""The stateful stack: key, buckets, queues with their notifications, the index table."""

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.constructs import functions as fn
from infra.constructs.storage import LOGICAL_IDS, MAX_RECEIVE_COUNT
from inlet import keys
from inlet.index.dynamodb import PARTITION_KEY, SORT_KEY
from tests.infra.cfn import flatten, one, resources
from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

STATEFUL = {
    "key": "AWS::KMS::Key",
    "bucket": "AWS::S3::Bucket",
    "access_logs": "AWS::S3::Bucket",
    "table": "AWS::DynamoDB::Table",
    "parse_queue": "AWS::SQS::Queue",
    "parse_dlq": "AWS::SQS::Queue",
    "index_queue": "AWS::SQS::Queue",
    "index_dlq": "AWS::SQS::Queue",
}


def test_the_logical_ids_of_stateful_resources_are_pinned(env_synth: Synth) -> None:
    # Exact values: changing one makes CloudFormation replace (and lose) the resource.
    assert LOGICAL_IDS == {
        "key": "MessageKey",
        "bucket": "MessageBucket",
        "access_logs": "AccessLogBucket",
        "table": "IndexTable",
        "parse_queue": "ParseQueue",
        "parse_dlq": "ParseDeadLetterQueue",
        "index_queue": "IndexQueue",
        "index_dlq": "IndexDeadLetterQueue",
    }
    template = env_synth.template_json(env_synth.storage)
    for name, type_ in STATEFUL.items():
        assert template["Resources"][LOGICAL_IDS[name]]["Type"] == type_, name
    # Nothing stateful hides anywhere else.
    assert set(resources(template, "AWS::S3::Bucket")) == {"MessageBucket", "AccessLogBucket"}
    assert set(resources(template, "AWS::DynamoDB::Table")) == {"IndexTable"}
    assert set(resources(template, "AWS::KMS::Key")) == {"MessageKey"}
    assert set(resources(template, "AWS::SQS::Queue")) == {
        LOGICAL_IDS[q] for q in ("parse_queue", "parse_dlq", "index_queue", "index_dlq")
    }


def test_production_retains_stateful_resources_and_staging_does_not(
    staging: Synth, production: Synth
) -> None:
    for synth, policy in ((production, "Retain"), (staging, "Delete")):
        template = synth.template_json(synth.storage)
        for name in ("key", "bucket", "access_logs", "table"):
            resource = template["Resources"][LOGICAL_IDS[name]]
            assert resource["DeletionPolicy"] == policy, (synth.config.name, name)
            assert resource["UpdateReplacePolicy"] == policy, (synth.config.name, name)
    # Emptying buckets on stack deletion only where the data is disposable.
    assert resources(staging.template_json(staging.storage), "Custom::S3AutoDeleteObjects")
    assert not resources(
        production.template_json(production.storage), "Custom::S3AutoDeleteObjects"
    )


def test_the_key_rotates(env_synth: Synth) -> None:
    env_synth.storage_template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_the_message_bucket_is_encrypted_private_versioned_and_logged(env_synth: Synth) -> None:
    bucket = env_synth.template_json(env_synth.storage)["Resources"]["MessageBucket"]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert flatten(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == "<MessageKey.Arn>"
    assert rule["BucketKeyEnabled"] is True
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert flatten(bucket["LoggingConfiguration"]["DestinationBucketName"]) == "<AccessLogBucket>"


def _deny_insecure(template: dict[str, Any], bucket: str) -> list[dict[str, Any]]:
    found = []
    for policy in resources(template, "AWS::S3::BucketPolicy").values():
        if flatten(policy["Properties"]["Bucket"]) != f"<{bucket}>":
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}:
                found.append(statement)
    return found


def test_both_buckets_refuse_anything_but_tls(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.storage)
    for bucket in ("MessageBucket", "AccessLogBucket"):
        conditions = [s["Condition"] for s in _deny_insecure(template, bucket)]
        assert {"Bool": {"aws:SecureTransport": "false"}} in conditions, bucket
        assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions, bucket


def test_lifecycle_aborts_uploads_and_backs_retention_up(env_synth: Synth) -> None:
    config = env_synth.config
    bucket = env_synth.template_json(env_synth.storage)["Resources"]["MessageBucket"]
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["housekeeping"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules["housekeeping"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": config.noncurrent_version_days
    }
    assert rules["housekeeping"]["ExpiredObjectDeleteMarker"] is True
    backstop = rules["expiry-backstop"]["ExpirationInDays"]
    assert backstop == config.expiry_backstop_days
    # Past every retention period, including the longest per-domain override.
    assert backstop > max([config.retention_days, *(d for _, d in config.retention_overrides)])
    assert all(r["Status"] == "Enabled" for r in rules.values())


def test_notifications_send_raw_to_parse_and_parsed_to_index(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.storage)
    notifications = one(template, "Custom::S3BucketNotifications")["Properties"]
    assert flatten(notifications["BucketName"]) == "<MessageBucket>"
    routes = {
        (
            tuple(c["Events"]),
            c["Filter"]["Key"]["FilterRules"][0]["Value"],
            flatten(c["QueueArn"]),
        )
        for c in notifications["NotificationConfiguration"]["QueueConfigurations"]
    }
    assert routes == {
        (("s3:ObjectCreated:*",), keys.RAW_PREFIX, "<ParseQueue.Arn>"),
        (("s3:ObjectCreated:*",), keys.PARSED_PREFIX, "<IndexQueue.Arn>"),
    }
    for c in notifications["NotificationConfiguration"]["QueueConfigurations"]:
        assert c["Filter"]["Key"]["FilterRules"][0]["Name"] == "prefix"
    # S3 may send only from this bucket to the queues.
    for queue in ("ParseQueue", "IndexQueue"):
        env_synth.storage_template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Service": "s3.amazonaws.com"},
                                    "Condition": {
                                        "ArnLike": {
                                            "aws:SourceArn": {
                                                "Fn::GetAtt": ["MessageBucket", "Arn"]
                                            }
                                        }
                                    },
                                }
                            )
                        ]
                    )
                },
            },
        )


@pytest.mark.parametrize(
    ("queue", "dlq", "spec"),
    [
        ("ParseQueue", "ParseDeadLetterQueue", fn.PARSE),
        ("IndexQueue", "IndexDeadLetterQueue", fn.INDEX),
    ],
)
def test_queues_redrive_after_five_receives_and_outlast_their_consumer(
    env_synth: Synth, queue: str, dlq: str, spec: fn.FunctionSpec
) -> None:
    template = env_synth.template_json(env_synth.storage)
    props = template["Resources"][queue]["Properties"]
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    assert MAX_RECEIVE_COUNT == 5
    assert props["VisibilityTimeout"] >= 6 * spec.timeout.to_seconds()
    for name in (queue, dlq):
        assert template["Resources"][name]["Properties"]["SqsManagedSseEnabled"] is True
        assert template["Resources"][name]["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    # TLS only, on every queue.
    for name in (queue, dlq):
        env_synth.storage_template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": name}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_the_index_table(staging: Synth, production: Synth) -> None:
    for synth in (staging, production):
        table = synth.template_json(synth.storage)["Resources"]["IndexTable"]["Properties"]
        assert table["KeySchema"] == [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ]
        assert table["AttributeDefinitions"] == [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ]
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert "GlobalSecondaryIndexes" not in table
        assert table.get("DeletionProtectionEnabled", False) is synth.config.production
    assert production.template_json(production.storage)["Resources"]["IndexTable"]["Properties"][
        "DeletionProtectionEnabled"
    ]


def test_the_pipeline_finds_the_bucket_through_a_named_export(env_synth: Synth) -> None:
    outputs = env_synth.template_json(env_synth.storage)["Outputs"]
    assert (
        outputs["BucketArn"]["Export"]["Name"]
        == f"{env_synth.config.stack_prefix}-MessageBucketArn"
    )
    assert outputs["BucketArn"]["Value"] == {"Fn::GetAtt": ["MessageBucket", "Arn"]}


def test_stacks_are_separate_deployment_units(staging: Synth, production: Synth) -> None:
    for synth in (staging, production):
        manifest = json.loads((synth.outdir / "manifest.json").read_text())["artifacts"]
        storage = manifest[synth.storage.artifact_id]
        pipeline = manifest[synth.pipeline.artifact_id]
        # Compute depends on storage, never the other way round.
        assert synth.storage.artifact_id in pipeline["dependencies"]
        assert synth.pipeline.artifact_id not in storage.get("dependencies", [])
        for stack in (storage, pipeline):
            assert stack["environment"] == f"aws://unknown-account/{synth.config.region}"
            assert (
                stack["properties"].get("terminationProtection", False) is synth.config.production
            )
