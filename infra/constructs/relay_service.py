"""The SMTP relay on ECS Fargate behind an internet-facing Network Load Balancer.

    client ──TCP 25──▶ NLB ──PROXY v2, TCP 2525──▶ relay tasks (private subnets)
    client ──TCP 587─▶ NLB ──PROXY v2, TCP 2587──▶   (submission, when enabled)
                        └──HTTP 8080 /healthz (health checks)──┘

STARTTLS happens in the relay (it starts inside the SMTP session, so no NLB TLS listener can do
it): the task reads its certificate and key, and the submission credentials, from the storage
stack's Secrets Manager secrets at run time with its task role, and rereads them every
INLET_SECRETS_REFRESH seconds. (ECS's own `secrets` injection resolves a secret once, when the
task starts: a renewed certificate would need a redeploy.)

The image is built from Dockerfile.relay (a container image asset: at synth time the build
context is only staged into cdk.out; `cdk deploy` builds and pushes it), for ARM64 (Graviton)
or X86_64. The task runs as the image's non-root user on a read-only root filesystem.
"""

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.constructs import REPO_ROOT, acknowledge, log_retention
from infra.units import RelayServiceConfig
from inlet import keys, settings

CONTAINER_NAME = "relay"
SMTP_PORT = 25
SUBMISSION_PORT = 587
# A non-root process cannot bind 25 or 587: the container listens on 2525 (and 2587 for
# submission), the NLB on 25 (and 587).
CONTAINER_SMTP_PORT = 2525
CONTAINER_SUBMISSION_PORT = 2587
HEALTH_PORT = 8080
HEALTH_PATH = "/healthz"
# The image's user (Dockerfile.relay: USER 10001:10001), repeated so ECS enforces it even if
# the image changed.
RELAY_USER = "10001:10001"
DOCKERFILE = "Dockerfile.relay"
# Pinned like the relay's base image; multi-arch, so one tag serves ARM64 and X86_64 tasks.
FLUENT_BIT_IMAGE = "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.4.15"
# Kept out of the image build context whatever .dockerignore says: CDK stages the context into
# cdk.out at every synth, and these are large, local or both.
IMAGE_EXCLUDE = [
    ".venv",
    "node_modules",
    ".build",
    "cdk.out",
    ".git",
    "inlet-data",
    "bench/out",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "**/__pycache__",
]
HEALTH_CHECK_COMMAND = (
    "import urllib.request; "
    f"urllib.request.urlopen('http://127.0.0.1:{HEALTH_PORT}{HEALTH_PATH}', timeout=3)"
)

_PLATFORMS = {
    "ARM64": (ecs.CpuArchitecture.ARM64, ecr_assets.Platform.LINUX_ARM64),
    "X86_64": (ecs.CpuArchitecture.X86_64, ecr_assets.Platform.LINUX_AMD64),
}


class RelayService(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc,
        public_subnets: ec2.SubnetSelection,
        private_subnets: ec2.SubnetSelection,
        bucket: s3.IBucket,
        key: kms.IKey,
        tls_secret: secretsmanager.ISecret,
        # With the submission port (config.submission_port_enabled) only.
        credentials_secret: secretsmanager.ISecret | None,
        config: RelayServiceConfig,
    ) -> None:
        super().__init__(scope, id)
        if config.submission_port_enabled != (credentials_secret is not None):
            raise ValueError("the submission port and its credentials secret go together")
        cpu_architecture, platform = _PLATFORMS[config.architecture]
        retention = log_retention(config.log_retention_days)

        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=config.cpu,
            memory_limit_mib=config.memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=cpu_architecture,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.task_role = self.task_definition.task_role

        # Logs and metrics. The relay writes its metrics as CloudWatch Embedded Metric Format
        # documents on stdout. The awslogs driver ships them as plain log events, and CloudWatch
        # extracts EMF only from events sent with the `x-amzn-logs-format: json/emf` header, so
        # with awslogs no metric would ever appear. FireLens (Fluent Bit's cloudwatch_logs
        # output with log_format json/emf) sends that header; log_key=log ships each line as it
        # was written (the EMF JSON itself, not wrapped in FireLens' record).
        self.log_group = logs.LogGroup(
            self, "Logs", retention=retention, removal_policy=RemovalPolicy.DESTROY
        )
        router_logs = logs.LogGroup(
            self, "RouterLogs", retention=retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.task_definition.add_firelens_log_router(
            "LogRouter",
            image=ecs.ContainerImage.from_registry(FLUENT_BIT_IMAGE),
            firelens_config=ecs.FirelensConfig(
                type=ecs.FirelensLogRouterType.FLUENTBIT,
                options=ecs.FirelensOptions(enable_ecs_log_metadata=False),
            ),
            essential=True,
            memory_reservation_mib=50,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="router", log_group=router_logs),
        )
        # Fluent Bit runs with the task role's credentials.
        self.task_definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )

        # The relay's own settings: every name comes from inlet/settings.py, so a setting renamed
        # there fails the synthesis instead of leaving a variable nothing reads.
        relay_settings = {
            "domains": ",".join(config.domains),
            "bucket": bucket.bucket_name,
            "hostname": config.hostname,
            "proxy_protocol": "on",
            "smtp_port": str(CONTAINER_SMTP_PORT),
            "health_port": str(HEALTH_PORT),
            "drain_seconds": str(config.drain_seconds),
            "max_message_size": str(config.max_message_size),
            # Secret ids, not values: the relay reads the values itself, and again after
            # every refresh interval.
            "tls_secret": tls_secret.secret_arn,
            "secrets_refresh": str(config.secrets_refresh_seconds),
            "log_level": "INFO",
        }
        port_mappings = [
            ecs.PortMapping(container_port=CONTAINER_SMTP_PORT, name="smtp"),
            ecs.PortMapping(container_port=HEALTH_PORT, name="health"),
        ]
        if credentials_secret is not None:
            relay_settings["submission_port"] = str(CONTAINER_SUBMISSION_PORT)
            relay_settings["auth_secret"] = credentials_secret.secret_arn
            port_mappings.append(
                ecs.PortMapping(container_port=CONTAINER_SUBMISSION_PORT, name="submission")
            )

        self.image = ecs.ContainerImage.from_asset(
            str(REPO_ROOT), file=DOCKERFILE, platform=platform, exclude=IMAGE_EXCLUDE
        )
        self.container = self.task_definition.add_container(
            CONTAINER_NAME,
            container_name=CONTAINER_NAME,
            image=self.image,
            essential=True,
            user=RELAY_USER,
            # The relay writes nothing locally when INLET_BUCKET is set (and byte-code is
            # compiled into the image), so no writable volume is needed.
            readonly_root_filesystem=True,
            environment={
                **settings.environment(relay_settings),
                "AWS_REGION": Stack.of(self).region,
            },
            port_mappings=port_mappings,
            # The image has no curl; Python's urllib fails (non-zero exit) on anything but 200.
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-c", HEALTH_CHECK_COMMAND],
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(15),
            ),
            # SIGTERM starts the drain; sessions in DATA get drain_seconds to finish, then the
            # process writes its last metrics and exits before ECS would SIGKILL it.
            stop_timeout=Duration.seconds(config.stop_timeout_seconds),
            logging=ecs.LogDrivers.firelens(
                options={
                    "Name": "cloudwatch_logs",
                    "region": Stack.of(self).region,
                    "log_group_name": self.log_group.log_group_name,
                    "log_stream_prefix": "relay/",
                    "log_format": "json/emf",
                    "log_key": "log",
                    "auto_create_group": "false",
                }
            ),
        )

        # Least privilege: write (and, after a failed store, delete) raw/ and envelope/ only.
        # PutObject covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload.
        written = [bucket.arn_for_objects(f"{p}*") for p in (keys.RAW_PREFIX, keys.ENVELOPE_PREFIX)]
        self.task_definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                    "s3:DeleteObject",
                ],
                resources=written,
            )
        )
        # After a lost answer: whether a retried Complete had completed (the listing of that
        # one key: its size, not its bytes), and which uploads of a key a lost Create left.
        self.task_definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{keys.RAW_PREFIX}*"]}},
            )
        )
        self.task_definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucketMultipartUploads"], resources=[bucket.bucket_arn]
            )
        )
        # SSE-KMS: a data key to write; Decrypt as well, which multipart uploads need.
        self.task_definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"],
                resources=[key.key_arn],
            )
        )

        # The relay's secrets: read each one's current version, nothing else (no listing, no
        # writing; the default aws/secretsmanager key needs no grant of its own).
        self.task_definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"],
                resources=[
                    secret.secret_arn
                    for secret in (tls_secret, credentials_secret)
                    if secret is not None
                ],
            )
        )

        # Network: the NLB has a security group open to the world on the SMTP ports; the tasks
        # accept only what comes through it (mail and the NLB's health checks).
        self.load_balancer_security_group = ec2.SecurityGroup(
            self,
            "LoadBalancerSecurityGroup",
            vpc=vpc,
            description="Inlet NLB: SMTP from anywhere",
            allow_all_outbound=False,
        )
        self.task_security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=vpc,
            description="Inlet relay tasks: SMTP and health checks from the NLB only",
            # Egress: S3 (gateway endpoint), KMS, CloudWatch Logs, ECR and Secrets Manager over
            # HTTPS.
            allow_all_outbound=True,
        )
        # Listener port → the container port it forwards to.
        forwarded = {SMTP_PORT: CONTAINER_SMTP_PORT}
        if config.submission_port_enabled:
            forwarded[SUBMISSION_PORT] = CONTAINER_SUBMISSION_PORT
        for port in forwarded:
            self.load_balancer_security_group.add_ingress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"SMTP {port} from anywhere"
            )
        to_task = [(CONTAINER_SMTP_PORT, "SMTP"), (HEALTH_PORT, "health checks")]
        if config.submission_port_enabled:
            to_task.append((CONTAINER_SUBMISSION_PORT, "submission"))
        for port, what in to_task:
            self.load_balancer_security_group.connections.allow_to(
                self.task_security_group, ec2.Port.tcp(port), f"{what} to the relay"
            )

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            # No desired_count: autoscaling owns it, and a deploy must not reset it.
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            assign_public_ip=False,
            vpc_subnets=private_subnets,
            security_groups=[self.task_security_group],
            health_check_grace_period=Duration.seconds(30),
            platform_version=ecs.FargatePlatformVersion.LATEST,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        self.scaling = self.service.auto_scale_task_count(
            min_capacity=config.min_tasks, max_capacity=config.max_tasks
        )
        self.scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=config.cpu_target_percent,
            scale_out_cooldown=Duration.minutes(1),
            # Scaling in drains a task (up to the drain deadline): do it unhurriedly.
            scale_in_cooldown=Duration.minutes(5),
        )

        self.load_balancer = elbv2.NetworkLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=public_subnets,
            cross_zone_enabled=True,
            security_groups=[self.load_balancer_security_group],
            deletion_protection=config.deletion_protection,
        )
        # One target group per listener: the NLB forwards 25 to the relay's SMTP port and 587
        # to its submission port (which requires STARTTLS and AUTH), never one to the other.
        self.target_group = self._target_group("Targets", CONTAINER_SMTP_PORT, vpc, config)
        self.submission_target_group: elbv2.NetworkTargetGroup | None = None
        groups = {SMTP_PORT: self.target_group}
        if config.submission_port_enabled:
            self.submission_target_group = self._target_group(
                "SubmissionTargets", CONTAINER_SUBMISSION_PORT, vpc, config
            )
            groups[SUBMISSION_PORT] = self.submission_target_group
        self.listeners = [
            self.load_balancer.add_listener(
                f"Listener{port}",
                port=port,
                protocol=elbv2.Protocol.TCP,
                default_target_groups=[group],
            )
            for port, group in groups.items()
        ]

        acknowledge(
            self.task_definition,
            {
                "AwsSolutions-ECS2": (
                    "the environment carries configuration only (domains, bucket name, host "
                    "name, ports, limits) and the ARNs of the secrets, never their values: the "
                    "relay reads those itself with the task role, and again every refresh "
                    "interval, which ECS secret injection (resolved once at task start) cannot"
                ),
            },
        )
        acknowledge(
            self.load_balancer_security_group,
            {
                "AwsSolutions-EC23": (
                    "a public MX: every mail server on the internet must reach SMTP on 25 (and "
                    "587 when enabled); nothing else is open, and the tasks accept traffic from "
                    "this security group only"
                )
            },
        )
        acknowledge(
            self.load_balancer,
            {
                "AwsSolutions-ELB2": (
                    "NLB access logs are written only for TLS listeners; these are TCP (STARTTLS "
                    "happens in the relay, which logs every session and counts every reply)"
                )
            },
        )
        assert self.task_definition.execution_role is not None
        acknowledge(
            self.task_definition.execution_role,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "ecr:GetAuthorizationToken (to pull the image) supports no resource-level "
                    "permissions; the pull itself is scoped to the asset repository"
                ),
            },
        )

    def _target_group(
        self, id: str, port: int, vpc: ec2.IVpc, config: RelayServiceConfig
    ) -> elbv2.NetworkTargetGroup:
        group = elbv2.NetworkTargetGroup(
            self,
            id,
            vpc=vpc,
            port=port,
            protocol=elbv2.Protocol.TCP,
            target_type=elbv2.TargetType.IP,
            # The relay learns the client's address from the PROXY v2 header
            # (INLET_PROXY_PROTOCOL=on), not from the TCP peer.
            proxy_protocol_v2=True,
            preserve_client_ip=False,
            # The NLB stops sending new connections as soon as a task deregisters; sessions
            # already open get as long as the relay's own drain deadline.
            deregistration_delay=Duration.seconds(config.drain_seconds),
            # Both listeners are served by the same process: its /healthz speaks for both.
            health_check=elbv2.HealthCheck(
                enabled=True,
                protocol=elbv2.Protocol.HTTP,
                port=str(HEALTH_PORT),
                path=HEALTH_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(10),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=2,
            ),
        )
        group.add_target(
            self.service.load_balancer_target(container_name=CONTAINER_NAME, container_port=port)
        )
        return group
