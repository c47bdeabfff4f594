"""The deployment units: StorageStack (stateful: key, buckets, queues, table, the relay's
secrets, the event bus with its archive, the webhook's queues and key) and PipelineStack
(stateless: network, relay service, functions, monitoring). Stateful resources live apart so
that the pipeline can be torn down and redeployed without touching stored mail, events waiting
for a webhook, the certificate or the submission credentials.
"""

from aws_cdk import CfnOutput, Environment, Fn, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from infra.config import EnvironmentConfig
from infra.constructs import acknowledge
from infra.constructs import functions as fn
from infra.constructs.events import Events
from infra.constructs.functions import Functions
from infra.constructs.monitoring import Monitoring
from infra.constructs.network import Network
from infra.constructs.relay_service import RelayService
from infra.constructs.secrets import RelaySecrets
from infra.constructs.storage import Storage
from inlet import keys


def bucket_arn_export(config: EnvironmentConfig) -> str:
    return f"{config.stack_prefix}-MessageBucketArn"


class _InletStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig) -> None:
        self._config = config
        super().__init__(
            scope,
            id,
            env=Environment(account=config.account, region=config.region),
            description=f"Inlet ({config.name}): SMTP to S3 email pipeline",
            termination_protection=config.production,
        )

    # Fixed in code: without this an environment-aware stack would look the zones up (and an
    # agnostic one would fall back to two unnamed zones).
    @property
    def availability_zones(self) -> list[str]:
        return list(self._config.availability_zones)


class StorageStack(_InletStack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, id, config=config)
        self.storage = Storage(
            self,
            "Storage",
            config=config.storage,
            parse_visibility_timeout=fn.visibility_timeout(fn.PARSE),
            index_visibility_timeout=fn.visibility_timeout(fn.INDEX),
        )
        # A named export: the pipeline grants on object ARNs built from it (see PipelineStack).
        CfnOutput(
            self,
            "BucketArn",
            value=self.storage.bucket.bucket_arn,
            export_name=bucket_arn_export(config),
        )
        CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "TableName", value=self.storage.table.table_name)
        self.events = Events(
            self,
            "Events",
            config=config.events,
            webhook_visibility_timeout=fn.visibility_timeout(fn.WEBHOOK),
        )
        CfnOutput(
            self,
            "EventBusName",
            description="Attach your rules here (source inlet; docs/integrations.md)",
            value=self.events.bus.event_bus_name,
        )
        CfnOutput(self, "EventBusArn", value=self.events.bus.event_bus_arn)
        if self.events.webhook is not None:
            CfnOutput(
                self,
                "WebhookSecretArn",
                description="The webhook's signing key: give its value to the receiver",
                value=self.events.webhook.secret.secret_arn,
            )
        # The operator-supplied secrets (docs/deploy.md: how a certificate and credentials get
        # there); their ids are what `aws secretsmanager put-secret-value` takes.
        self.secrets = RelaySecrets(self, "Secrets", config=config.secrets)
        CfnOutput(
            self,
            "TlsSecretArn",
            description="Put the STARTTLS certificate and key here (JSON: docs/deploy.md)",
            value=self.secrets.tls.secret_arn,
        )
        if self.secrets.credentials is not None:
            CfnOutput(
                self,
                "CredentialsSecretArn",
                description="Put the submission users here: one user:hash line each",
                value=self.secrets.credentials.secret_arn,
            )
        # CDK's own singleton that applies the bucket's notification configuration at deploy
        # time (a stack-level construct, created by add_event_notification).
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(
                    child,
                    {
                        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                        "service-role/AWSLambdaBasicExecutionRole]": (
                            "CDK's bucket-notifications custom resource handler; the managed "
                            "policy only lets it write its own CloudWatch logs"
                        )
                    },
                )


class PipelineStack(_InletStack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        storage: Storage,
        secrets: RelaySecrets,
        events: Events,
    ) -> None:
        super().__init__(scope, id, config=config)
        # The bucket as this stack uses it. Its ARN comes through the storage stack's named
        # export rather than an automatic reference: every grant here is on an object prefix
        # of that ARN (raw/*, parsed/*, ...), and a fixed, readable name keeps those policies
        # (and the cdk-nag acknowledgments that name them) stable across CDK versions.
        export = bucket_arn_export(config)
        bucket = s3.Bucket.from_bucket_attributes(
            self,
            "MessageBucket",
            bucket_arn=Fn.import_value(export),
            bucket_name=storage.bucket.bucket_name,
            encryption_key=storage.key,
        )
        self.network = Network(self, "Network", config=config.network)
        self.relay = RelayService(
            self,
            "Relay",
            vpc=self.network.vpc,
            public_subnets=self.network.public_subnets,
            private_subnets=self.network.private_subnets,
            bucket=bucket,
            key=storage.key,
            tls_secret=secrets.tls,
            credentials_secret=secrets.credentials,
            config=config.relay_service,
        )
        self.functions = Functions(
            self,
            "Functions",
            bucket=bucket,
            key=storage.key,
            table=storage.table,
            parse_queue=storage.parse_queue,
            index_queue=storage.index_queue,
            event_bus=events.bus,
            webhook=events.webhook,
            config=config.functions,
        )
        webhook = events.webhook
        webhook_queues = (
            [("Webhook", webhook.queue, webhook.dead_letter_queue)] if webhook is not None else []
        )
        webhook_function = (
            [("Webhook", self.functions.webhook)] if self.functions.webhook is not None else []
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config.monitoring,
            queues=[
                ("Parse", storage.parse_queue, storage.parse_dead_letter_queue),
                ("Index", storage.index_queue, storage.index_dead_letter_queue),
                *webhook_queues,
            ],
            functions=[
                ("Parse", self.functions.parse),
                ("Index", self.functions.index),
                ("Retention", self.functions.retention),
                *webhook_function,
            ],
            webhook=webhook is not None,
            service=self.relay.service,
            load_balancer=self.relay.load_balancer,
            target_group=self.relay.target_group,
        )
        CfnOutput(
            self,
            "MxTarget",
            description="Point the MX records of the accepted domains at a name resolving here",
            value=self.relay.load_balancer.load_balancer_dns_name,
        )
        CfnOutput(self, "Dashboard", value=self.monitoring.dashboard.dashboard_name)
        self._acknowledge_prefix_grants(export)

    def _acknowledge_prefix_grants(self, export: str) -> None:
        """The wildcard in `<bucket ARN>/raw/*` is the prefix scope itself: each role may touch
        the objects under the prefixes its code uses, and nothing else in the bucket."""

        def objects(role: IConstruct | None, prefixes: tuple[str, ...], what: str) -> None:
            assert role is not None
            acknowledge(
                role,
                {
                    f"AwsSolutions-IAM5[Resource::{export}/{prefix}*]": (
                        f"{what}; the wildcard only spans the objects under {prefix}"
                    )
                    for prefix in prefixes
                },
            )

        objects(
            self.relay.task_role,
            (keys.RAW_PREFIX, keys.ENVELOPE_PREFIX),
            "the relay writes each message and its envelope (and deletes them after a failed "
            "store)",
        )
        objects(
            self.functions.parse.role,
            (
                keys.RAW_PREFIX,
                keys.ENVELOPE_PREFIX,
                keys.PARSED_PREFIX,
                keys.ATTACHMENTS_PREFIX,
                keys.QUARANTINE_PREFIX,
            ),
            "parse reads raw/ and envelope/ and writes parsed/, attachments/ and quarantine/",
        )
        objects(
            self.functions.index.role,
            (keys.PARSED_PREFIX,),
            "index reads the parsed documents",
        )
        objects(
            self.functions.retention.role,
            (
                keys.RAW_PREFIX,
                keys.ENVELOPE_PREFIX,
                keys.PARSED_PREFIX,
                keys.ATTACHMENTS_PREFIX,
                keys.QUARANTINE_PREFIX,
            ),
            "retention reads envelopes and removes every object of an expired message",
        )
