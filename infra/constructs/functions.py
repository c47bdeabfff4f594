"""The Lambdas: parse (raw/ → parsed/), index (parsed/ → DynamoDB, then the event to the bus),
retention (on a schedule) and, with a webhook, webhook (the bus's rule → a signed POST). Thin
handlers in functions/ over the core in inlet/, shipped as one self-contained asset
(infra/constructs/function_code.py: the sources and their pinned dependencies, bundled on the
host without Docker); boto3 comes with the runtime.
"""

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions import metrics
from infra.constructs import acknowledge, log_retention
from infra.constructs.events import WebhookQueue
from infra.constructs.function_code import function_code
from infra.units import FunctionsConfig
from inlet import keys, settings

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    service: str  # the Powertools service name (functions/metrics.py), also the metric dimension
    handler: str
    memory_mib: int
    timeout: Duration
    description: str


PARSE = FunctionSpec(
    service=metrics.PARSE_SERVICE,
    handler="functions.parse.handler.lambda_handler",
    # A 40 MiB message peaks at about 130 MiB while it is parsed (performance.md); 1024 MiB
    # is for the CPU share that comes with it (parsing is CPU-bound), not for the memory.
    memory_mib=1024,
    timeout=Duration.minutes(2),
    description="Inlet parse: raw/ message -> parsed/ document and attachments, or quarantine",
)
INDEX = FunctionSpec(
    service=metrics.INDEX_SERVICE,
    handler="functions.index.handler.lambda_handler",
    memory_mib=256,
    timeout=Duration.minutes(1),
    description="Inlet index: parsed/ document -> DynamoDB index records",
)
RETENTION = FunctionSpec(
    service=metrics.RETENTION_SERVICE,
    handler="functions.retention.handler.lambda_handler",
    memory_mib=512,
    # It lists raw/ and envelope/ up to the cutoff; a run cut short is finished by the next.
    timeout=Duration.minutes(15),
    description="Inlet retention: removes messages past their retention period, never held ones",
)
WEBHOOK = FunctionSpec(
    service=metrics.WEBHOOK_SERVICE,
    handler="functions.webhook.handler.lambda_handler",
    memory_mib=256,
    # A batch of WEBHOOK_BATCH_SIZE, each request allowed its 10 s (inlet.webhook.send), and a
    # margin: a receiver that hangs on every request still ends the batch in time.
    timeout=Duration.minutes(2),
    description="Inlet webhook: events from the bus -> signed POST to the environment's webhook",
)
PARSE_BATCH_SIZE = 5
INDEX_BATCH_SIZE = 10
WEBHOOK_BATCH_SIZE = 10
BATCHING_WINDOW = Duration.seconds(1)


def visibility_timeout(spec: FunctionSpec) -> Duration:
    """The consuming queue's visibility timeout: six times the function's timeout plus the
    batching window (AWS's guidance), so a record is not redelivered while still in work."""
    return Duration.seconds(6 * spec.timeout.to_seconds() + BATCHING_WINDOW.to_seconds())


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        table: dynamodb.ITable,
        parse_queue: sqs.IQueue,
        index_queue: sqs.IQueue,
        event_bus: events.IEventBus,
        webhook: WebhookQueue | None,
        config: FunctionsConfig,
    ) -> None:
        super().__init__(scope, id)
        self._bucket = bucket
        self._key = key
        self._table = table
        self._log_retention = log_retention(config.log_retention_days)
        self._code = function_code()
        # The names come from the core's settings (inlet/settings.py): a setting renamed there
        # fails the synthesis instead of leaving a variable nothing reads.
        self._environment = {
            **settings.environment(
                {
                    "bucket": bucket.bucket_name,
                    "table": table.table_name,
                    "retention_days": str(config.retention_days),
                    "retention_overrides": config.retention_overrides,
                    "log_level": "INFO",
                    "hostname": config.hostname,
                }
            ),
            "POWERTOOLS_METRICS_NAMESPACE": metrics.NAMESPACE,
        }

        self.parse = self._function("Parse", PARSE, config.parse_reserved_concurrency)
        self._read(self.parse, keys.RAW_PREFIX, keys.ENVELOPE_PREFIX)
        self._write(self.parse, keys.PARSED_PREFIX, keys.ATTACHMENTS_PREFIX, keys.QUARANTINE_PREFIX)
        self._use_key(self.parse, decrypt=True, encrypt=True)
        self.parse.add_event_source(
            sources.SqsEventSource(
                parse_queue,
                batch_size=PARSE_BATCH_SIZE,
                max_batching_window=BATCHING_WINDOW,
                report_batch_item_failures=True,
                # Never more pollers than the function may run: a throttled batch counts as a
                # receive, and five of those would send good messages to the DLQ.
                max_concurrency=config.parse_reserved_concurrency,
            )
        )

        self.index = self._function(
            "Index",
            INDEX,
            config.index_reserved_concurrency,
            settings.environment({"event_bus": event_bus.event_bus_name}),
        )
        event_bus.grant_put_events_to(self.index)
        self._read(self.index, keys.PARSED_PREFIX)
        self._use_key(self.index, decrypt=True, encrypt=False)
        self._use_table(self.index)
        self.index.add_event_source(
            sources.SqsEventSource(
                index_queue,
                batch_size=INDEX_BATCH_SIZE,
                max_batching_window=BATCHING_WINDOW,
                report_batch_item_failures=True,
                max_concurrency=config.index_reserved_concurrency,
            )
        )

        self.retention = self._function(
            "Retention", RETENTION, config.retention_reserved_concurrency
        )
        everything = (
            keys.RAW_PREFIX,
            keys.ENVELOPE_PREFIX,
            keys.PARSED_PREFIX,
            keys.ATTACHMENTS_PREFIX,
            keys.QUARANTINE_PREFIX,
        )
        self._read(self.retention, *everything)
        self._delete(self.retention, *everything)
        self._use_key(self.retention, decrypt=True, encrypt=False)
        self._use_table(self.retention)
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Inlet retention run",
            schedule=events.Schedule.expression(config.retention_schedule),
            targets=[
                targets.LambdaFunction(
                    self.retention,
                    event=events.RuleTargetInput.from_object({"dry_run": False}),
                    retry_attempts=2,
                    max_event_age=Duration.hours(6),
                )
            ],
        )

        # The storage stack made the webhook's queue and key from the same environment.
        self.webhook: lambda_.Function | None = None
        if webhook is not None:
            assert config.webhook_url is not None
            self.webhook = self._webhook(webhook, config.webhook_url, config)

        self.all = tuple(
            f for f in (self.parse, self.index, self.retention, self.webhook) if f is not None
        )

    def _webhook(
        self, webhook: WebhookQueue, url: str, config: FunctionsConfig
    ) -> lambda_.Function:
        function = self._function(
            "Webhook",
            WEBHOOK,
            config.webhook_reserved_concurrency,
            settings.environment(
                {
                    "webhook_url": url,
                    "webhook_secret_arn": webhook.secret.secret_arn,
                    "webhook_retry_seconds": str(config.webhook_retry_seconds),
                }
            ),
        )
        webhook.secret.grant_read(function)
        function.add_event_source(
            sources.SqsEventSource(
                webhook.queue,
                batch_size=WEBHOOK_BATCH_SIZE,
                max_batching_window=BATCHING_WINDOW,
                report_batch_item_failures=True,
                max_concurrency=config.webhook_reserved_concurrency,
            )
        )
        return function

    def _function(
        self,
        id: str,
        spec: FunctionSpec,
        reserved: int,
        environment: dict[str, str] | None = None,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self, f"{id}Logs", retention=self._log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        # A role of its own with nothing but what this function does (no managed policies).
        role = iam.Role(
            self,
            f"{id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Inlet {spec.service} function",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        # No VPC, on purpose: the parse function's verdicts ask public DNS (SPF, DKIM keys, DMARC
        # records) through the Lambda service's own resolver. A VPC would give the functions
        # nothing (they listen on nothing; S3, SQS and DynamoDB are regional endpoints, with
        # IAM) and cost ENIs, a security group, and an endpoint or NAT for every further API.
        # docs/deploy.md, "DNS for the verdicts".
        function = lambda_.Function(
            self,
            id,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=self._code,
            memory_size=spec.memory_mib,
            timeout=spec.timeout,
            reserved_concurrent_executions=reserved,
            environment={
                **self._environment,
                **(environment or {}),
                "POWERTOOLS_SERVICE_NAME": spec.service,
            },
            role=role,
            log_group=log_group,
        )
        acknowledge(
            function,
            {
                "AwsSolutions-L1": (
                    "python3.13 on purpose: the project supports Python 3.11-3.13 "
                    "(pyproject requires-python) and the asset's dependencies are the cp313 "
                    "wheels; it is a current, non-deprecated runtime (cfn-lint checks that)"
                )
            },
        )
        return function

    def _objects(self, *prefixes: str) -> list[str]:
        return [self._bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]

    def _read(self, fn: lambda_.Function, *prefixes: str) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=self._objects(*prefixes))
        )
        # Listing is also what makes S3 answer 404 rather than 403 for a key that is gone, which
        # the code relies on to tell "already removed" from a fault.
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self._bucket.bucket_arn])
        )

    def _write(self, fn: lambda_.Function, *prefixes: str) -> None:
        # Large attachments go up as multipart uploads, which a failure aborts.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=self._objects(*prefixes),
            )
        )

    def _delete(self, fn: lambda_.Function, *prefixes: str) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:DeleteObject"], resources=self._objects(*prefixes))
        )

    def _use_key(self, fn: lambda_.Function, *, decrypt: bool, encrypt: bool) -> None:
        actions = (["kms:Decrypt"] if decrypt else []) + (
            ["kms:Encrypt", "kms:GenerateDataKey"] if encrypt else []
        )
        fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[self._key.key_arn]))

    def _use_table(self, fn: lambda_.Function) -> None:
        # Exactly the calls inlet/index/dynamodb.py makes on the mail path (no Scan).
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:BatchWriteItem",
                ],
                resources=[self._table.table_arn],
            )
        )
