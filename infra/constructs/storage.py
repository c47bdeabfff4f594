"""The stateful part of Inlet: the message bucket and its key, the parse and index queues (with
their dead-letter queues) fed by the bucket's notifications, and the index table.

Bucket and queues live together: the notification configuration names the queues and each
queue's policy names the bucket, so splitting them across stacks would make a reference cycle.

The logical IDs of the stateful resources are pinned (LOGICAL_IDS): refactoring the construct
tree must never make CloudFormation replace the bucket, the table or the key.
"""

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.units import StorageConfig
from inlet import keys
from inlet.index.dynamodb import PARTITION_KEY, SORT_KEY

# Pinned CloudFormation logical IDs (tests hold them; changing one replaces the resource).
LOGICAL_IDS = {
    "key": "MessageKey",
    "bucket": "MessageBucket",
    "access_logs": "AccessLogBucket",
    "table": "IndexTable",
    "parse_queue": "ParseQueue",
    "parse_dlq": "ParseDeadLetterQueue",
    "index_queue": "IndexQueue",
    "index_dlq": "IndexDeadLetterQueue",
}
MAX_RECEIVE_COUNT = 5
# The longest SQS allows: a message stuck through a long outage is kept for re-driving.
QUEUE_RETENTION = Duration.days(14)
ABORT_MULTIPART_AFTER_DAYS = 1


def pin_logical_id(construct: Construct, logical_id: str) -> None:
    """Fix the CloudFormation logical ID of an L2 construct's resource."""
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource), construct.node.path
    resource.override_logical_id(logical_id)


class Storage(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StorageConfig,
        # From the consuming functions' timeouts, not from the environment.
        parse_visibility_timeout: Duration,
        index_visibility_timeout: Duration,
    ) -> None:
        super().__init__(scope, id)
        # Production keeps every stateful resource when its stack is deleted; staging can be
        # torn down completely (buckets are emptied first, which is only safe there).
        removal = RemovalPolicy.RETAIN if config.production else RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description="Inlet: stored messages, envelopes, parsed documents, attachments",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        pin_logical_id(self.key, LOGICAL_IDS["key"])

        # Server access logs may only go to an SSE-S3 bucket, not a KMS one.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire", expiration=Duration.days(config.access_log_days))
            ],
            removal_policy=removal,
            auto_delete_objects=not config.production,
        )
        pin_logical_id(self.access_logs, LOGICAL_IDS["access_logs"])

        self.bucket = s3.Bucket(
            self,
            "Messages",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            # One data key per bucket and period instead of a KMS call per object.
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="messages/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="housekeeping",
                    # A relay or function that crashed mid-upload could not abort it.
                    abort_incomplete_multipart_upload_after=Duration.days(
                        ABORT_MULTIPART_AFTER_DAYS
                    ),
                    # The retention function deletes; versioning keeps what it deleted (and
                    # anything overwritten) recoverable for a while, then this removes it.
                    noncurrent_version_expiration=Duration.days(config.noncurrent_version_days),
                    expired_object_delete_marker=True,
                ),
                # The backstop: whatever the retention function did or failed to do, nothing
                # outlives the longest retention period by more than the margin. S3 knows
                # nothing of legal holds: a message held past this point is expired too.
                s3.LifecycleRule(
                    id="expiry-backstop", expiration=Duration.days(config.expiry_backstop_days)
                ),
            ],
            removal_policy=removal,
            auto_delete_objects=not config.production,
        )
        pin_logical_id(self.bucket, LOGICAL_IDS["bucket"])

        self.parse_dead_letter_queue = make_queue(self, "ParseDlq", LOGICAL_IDS["parse_dlq"])
        self.parse_queue = make_queue(
            self,
            "Parse",
            LOGICAL_IDS["parse_queue"],
            visibility_timeout=parse_visibility_timeout,
            dead_letter_queue=self.parse_dead_letter_queue,
        )
        self.index_dead_letter_queue = make_queue(self, "IndexDlq", LOGICAL_IDS["index_dlq"])
        self.index_queue = make_queue(
            self,
            "Index",
            LOGICAL_IDS["index_queue"],
            visibility_timeout=index_visibility_timeout,
            dead_letter_queue=self.index_dead_letter_queue,
        )
        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.parse_queue),
            s3.NotificationKeyFilter(prefix=keys.RAW_PREFIX),
        )
        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.index_queue),
            s3.NotificationKeyFilter(prefix=keys.PARSED_PREFIX),
        )

        # The key names come from the DynamoDB adapter, so the table and the code agree.
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=config.production,
            removal_policy=removal,
        )
        pin_logical_id(self.table, LOGICAL_IDS["table"])


def make_queue(
    scope: Construct,
    id: str,
    logical_id: str,
    *,
    visibility_timeout: Duration | None = None,
    dead_letter_queue: sqs.IQueue | None = None,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> sqs.Queue:
    """A queue of the pipeline: SQS-managed encryption (S3 and EventBridge can deliver to it
    without a key policy), TLS only, the longest retention, and its pinned logical id."""
    queue = sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=QUEUE_RETENTION,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=(
            sqs.DeadLetterQueue(max_receive_count=max_receive_count, queue=dead_letter_queue)
            if dead_letter_queue is not None
            else None
        ),
    )
    pin_logical_id(queue, logical_id)
    return queue
