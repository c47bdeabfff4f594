"""The relay on Fargate behind the NLB: image and platform, container hardening, PROXY v2,
health checks, drain timing, autoscaling, and a task role limited to raw/ and envelope/."""

from collections.abc import Callable
from typing import Any

import pytest

from infra.config import MAX_STOP_TIMEOUT_SECONDS
from infra.constructs import relay_service as relay
from inlet import keys
from tests.infra.cfn import flatten, grants, logical_id_of, one, resources
from tests.infra.conftest import ARCHES, ENVS, Synth

pytestmark = pytest.mark.infra


def containers(synth: Synth) -> dict[str, dict[str, Any]]:
    task = one(synth.template_json(synth.pipeline), "AWS::ECS::TaskDefinition")
    return {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]}


def relay_container(synth: Synth) -> dict[str, Any]:
    return containers(synth)[relay.CONTAINER_NAME]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("arch", ARCHES)
def test_both_architectures_synthesize(synth: Callable[..., Synth], env: str, arch: str) -> None:
    synthesized = synth(env, arch)
    task = one(synthesized.template_json(synthesized.pipeline), "AWS::ECS::TaskDefinition")
    assert task["Properties"]["RuntimePlatform"] == {
        "CpuArchitecture": arch,
        "OperatingSystemFamily": "LINUX",
    }
    assert task["Properties"]["RequiresCompatibilities"] == ["FARGATE"]
    # The image asset is built for the same platform (by `cdk deploy`, not at synth).
    images = synthesized.assets(synthesized.pipeline)["dockerImages"]
    (image,) = images.values()
    assert image["source"]["dockerFile"] == relay.DOCKERFILE
    assert image["source"]["platform"] == {"ARM64": "linux/arm64", "X86_64": "linux/amd64"}[arch]
    # The build context was staged without the big local directories.
    context = synthesized.outdir / image["source"]["directory"]
    staged = {p.name for p in context.iterdir()}
    assert relay.DOCKERFILE in staged
    assert not staged & {".venv", "node_modules", "cdk.out", ".git", "inlet-data", "bench"}


def test_the_container_is_hardened(env_synth: Synth) -> None:
    container = relay_container(env_synth)
    assert container["ReadonlyRootFilesystem"] is True
    user = container["User"]
    assert user.split(":")[0] not in ("0", "root")
    assert user == relay.RELAY_USER
    assert container["Essential"] is True
    assert "Privileged" not in container


def test_the_container_health_check_asks_the_health_port(env_synth: Synth) -> None:
    check = relay_container(env_synth)["HealthCheck"]
    command = check["Command"]
    # No curl in the image: Python's urllib against /healthz on the health port.
    assert command[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{relay.HEALTH_PORT}{relay.HEALTH_PATH}" in command[3]
    assert check["Interval"]
    assert check["Retries"]
    assert check["Timeout"] < check["Interval"]


def test_ports_and_environment(env_synth: Synth) -> None:
    config = env_synth.config
    container = relay_container(env_synth)
    assert {(p["ContainerPort"], p["Protocol"]) for p in container["PortMappings"]} == {
        (2525, "tcp"),
        (8080, "tcp"),
    } | ({(2587, "tcp")} if config.submission_port_enabled else set())
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["INLET_DOMAINS"] == ",".join(config.domains)
    assert env["INLET_HOSTNAME"] == config.hostname
    assert env["INLET_PROXY_PROTOCOL"] == "on"
    assert env["INLET_SMTP_PORT"] == "2525"
    assert env["INLET_HEALTH_PORT"] == "8080"
    assert env["INLET_DRAIN_SECONDS"] == str(config.drain_seconds)
    assert env["INLET_MAX_MESSAGE_SIZE"] == str(config.max_message_size)
    assert env["AWS_REGION"] == config.region
    assert flatten(env["INLET_BUCKET"]).startswith("<output:PublishOutputRefMessageBucket")
    assert "INLET_TABLE" not in env  # the relay knows nothing of the index
    # The secrets by ARN (the relay reads their values itself), never a value.
    assert flatten(env["INLET_TLS_SECRET"]).startswith("<output:PublishOutputRefTlsSecret")
    assert env["INLET_SECRETS_REFRESH"] == str(config.secrets_refresh_seconds)
    assert "INLET_TLS_CERT" not in env
    assert "INLET_REQUIRE_TLS" not in env  # a public MX on 25 must accept plain SMTP too
    if config.submission_port_enabled:
        assert env["INLET_SUBMISSION_PORT"] == "2587"
        assert flatten(env["INLET_AUTH_SECRET"]).startswith(
            "<output:PublishOutputRefSubmissionCredentialsSecret"
        )
    else:
        assert "INLET_SUBMISSION_PORT" not in env
        assert "INLET_AUTH_SECRET" not in env
    assert "Secrets" not in container  # not ECS injection: resolved once, at task start


def test_stop_timeout_covers_the_drain(env_synth: Synth) -> None:
    stop = relay_container(env_synth)["StopTimeout"]
    assert env_synth.config.drain_seconds < stop <= MAX_STOP_TIMEOUT_SECONDS
    assert stop == env_synth.config.stop_timeout_seconds


def test_logs_and_emf_go_through_firelens(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    by_name = containers(env_synth)
    router = by_name["LogRouter"]
    assert router["FirelensConfiguration"]["Type"] == "fluentbit"
    assert router["Image"] == relay.FLUENT_BIT_IMAGE
    assert router["LogConfiguration"]["LogDriver"] == "awslogs"
    logging = by_name[relay.CONTAINER_NAME]["LogConfiguration"]
    assert logging["LogDriver"] == "awsfirelens"
    options = logging["Options"]
    assert options["Name"] == "cloudwatch_logs"
    assert options["log_format"] == "json/emf"  # what makes CloudWatch extract the metrics
    assert options["log_key"] == "log"
    assert options["region"] == env_synth.config.region
    group = flatten(options["log_group_name"]).strip("<>")
    assert template["Resources"][group]["Properties"]["RetentionInDays"] == (
        env_synth.config.log_retention_days
    )
    # Fluent Bit writes with the task role.
    task_role = logical_id_of(template, "AWS::IAM::Role", "RelayTaskTaskRole")
    assert ("logs:PutLogEvents", f"<{group}.Arn>") in grants(template, task_role)


def test_the_cluster_has_container_insights(env_synth: Synth) -> None:
    cluster = one(env_synth.template_json(env_synth.pipeline), "AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"][
        "ClusterSettings"
    ]


def test_the_service(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    service = one(template, "AWS::ECS::Service")["Properties"]
    assert service["LaunchType"] == "FARGATE"
    deployment = service["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert deployment["MinimumHealthyPercent"] == 100
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert all("private" in flatten(s) for s in network["Subnets"])
    targets = {(t["ContainerName"], t["ContainerPort"]) for t in service["LoadBalancers"]}
    assert targets == {(relay.CONTAINER_NAME, 2525)} | (
        {(relay.CONTAINER_NAME, 2587)} if env_synth.config.submission_port_enabled else set()
    )
    # Autoscaling owns the task count.
    assert "DesiredCount" not in service


def test_autoscaling_on_cpu(env_synth: Synth) -> None:
    config = env_synth.config
    template = env_synth.template_json(env_synth.pipeline)
    target = one(template, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        config.relay_min_tasks,
        config.relay_max_tasks,
    )
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    policy = one(template, "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ECSServiceAverageCPUUtilization"
    )
    assert tracking["TargetValue"] == config.relay_cpu_target_percent


def test_the_load_balancer(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    nlb = one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]
    assert nlb["Type"] == "network"
    assert nlb["Scheme"] == "internet-facing"
    assert all("public" in flatten(s) for s in nlb["Subnets"])
    attributes = {a["Key"]: a["Value"] for a in nlb["LoadBalancerAttributes"]}
    assert attributes["load_balancing.cross_zone.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == str(env_synth.config.production).lower()


def test_the_target_groups_speak_proxy_v2_and_check_health_over_http(env_synth: Synth) -> None:
    groups = resources(
        env_synth.template_json(env_synth.pipeline), "AWS::ElasticLoadBalancingV2::TargetGroup"
    )
    ports = {group["Properties"]["Port"] for group in groups.values()}
    assert ports == ({2525, 2587} if env_synth.config.submission_port_enabled else {2525})
    for group in groups.values():
        check_target_group(env_synth, group["Properties"])


def check_target_group(env_synth: Synth, props: dict[str, Any]) -> None:
    assert (props["Protocol"], props["TargetType"]) == ("TCP", "ip")
    attributes = {a["Key"]: a["Value"] for a in props["TargetGroupAttributes"]}
    assert attributes["proxy_protocol_v2.enabled"] == "true"
    assert attributes["deregistration_delay.timeout_seconds"] == str(env_synth.config.drain_seconds)
    assert (
        int(attributes["deregistration_delay.timeout_seconds"])
        < (relay_container(env_synth)["StopTimeout"])
    )
    assert props["HealthCheckProtocol"] == "HTTP"
    assert props["HealthCheckPort"] == str(relay.HEALTH_PORT)
    assert props["HealthCheckPath"] == relay.HEALTH_PATH
    assert props["Matcher"] == {"HttpCode": "200"}  # 503 while draining takes it out


def listener_ports(synth: Synth) -> set[int]:
    template = synth.template_json(synth.pipeline)
    listeners = resources(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    assert all(listener["Properties"]["Protocol"] == "TCP" for listener in listeners)
    return {listener["Properties"]["Port"] for listener in listeners}


def test_port_587_only_when_submission_is_enabled(synth: Callable[..., Synth]) -> None:
    assert listener_ports(synth("staging", submission=False)) == {25}
    assert listener_ports(synth("staging", submission=True)) == {25, 587}
    assert listener_ports(synth("production")) == {25, 587}


def test_each_listener_forwards_to_its_own_port(synth: Callable[..., Synth]) -> None:
    # 587 must reach the submission listener (STARTTLS and AUTH required), never port 25's.
    for synthesized, expected in (
        (synth("staging", submission=False), {25: 2525}),
        (synth("staging", submission=True), {25: 2525, 587: 2587}),
    ):
        template = synthesized.template_json(synthesized.pipeline)
        groups = resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
        forwarded = {}
        for listener in resources(template, "AWS::ElasticLoadBalancingV2::Listener").values():
            (action,) = listener["Properties"]["DefaultActions"]
            group = flatten(action["TargetGroupArn"]).strip("<>")
            forwarded[listener["Properties"]["Port"]] = groups[group]["Properties"]["Port"]
        assert forwarded == expected


def test_security_groups(synth: Callable[..., Synth]) -> None:
    for synthesized in (synth("staging", submission=False), synth("staging", submission=True)):
        template = synthesized.template_json(synthesized.pipeline)
        nlb_group = logical_id_of(
            template, "AWS::EC2::SecurityGroup", "RelayLoadBalancerSecurityGroup"
        )
        task_group = logical_id_of(template, "AWS::EC2::SecurityGroup", "RelayTaskSecurityGroup")
        public = template["Resources"][nlb_group]["Properties"]["SecurityGroupIngress"]
        assert {(r["CidrIp"], r["FromPort"], r["ToPort"]) for r in public} == {
            ("0.0.0.0/0", port, port) for port in listener_ports(synthesized)
        }
        # The tasks: SMTP and health checks from the NLB's group, nothing from anywhere else.
        assert "SecurityGroupIngress" not in template["Resources"][task_group]["Properties"]
        ingress = {
            (flatten(r["Properties"]["SourceSecurityGroupId"]), r["Properties"]["FromPort"])
            for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
            if flatten(r["Properties"]["GroupId"]) == f"<{task_group}.GroupId>"
        }
        ports = {2525, 8080} | ({2587} if 587 in listener_ports(synthesized) else set())
        assert ingress == {(f"<{nlb_group}.GroupId>", port) for port in ports}


def test_the_task_role_writes_raw_and_envelope_only(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    role = logical_id_of(template, "AWS::IAM::Role", "RelayTaskTaskRole")
    bucket = f"<import:{env_synth.config.stack_prefix}-MessageBucketArn>"
    s3 = {(a, r) for a, r in grants(template, role) if a.startswith("s3:")}
    actions = {
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:DeleteObject",
    }
    assert s3 == {
        (action, f"{bucket}/{prefix}*")
        for action in actions
        for prefix in (keys.RAW_PREFIX, keys.ENVELOPE_PREFIX)
    } | {("s3:ListBucket", bucket), ("s3:ListBucketMultipartUploads", bucket)}
    # Listing is confined to raw/: the one key whose Complete answer was lost.
    [listing] = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "s3:ListBucket"
    ]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{keys.RAW_PREFIX}*"]}}
    kms = {(a, r) for a, r in grants(template, role) if a.startswith("kms:")}
    assert {a for a, _ in kms} == {"kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"}
    assert all(r.startswith("<output:PublishOutputFnGetAttMessageKeyArn") for _, r in kms)
    services = {a.split(":")[0] for a, _ in grants(template, role)}
    assert services == {"s3", "kms", "logs", "secretsmanager"}
    # No managed policies on the task role.
    assert "ManagedPolicyArns" not in template["Resources"][role]["Properties"]


def test_the_task_role_reads_exactly_the_relay_secrets(synth: Callable[..., Synth]) -> None:
    for synthesized in (synth("staging", submission=False), synth("staging", submission=True)):
        template = synthesized.template_json(synthesized.pipeline)
        role = logical_id_of(template, "AWS::IAM::Role", "RelayTaskTaskRole")
        secrets = {(a, r) for a, r in grants(template, role) if a.startswith("secretsmanager:")}
        expected = ["<output:PublishOutputRefTlsSecret"]
        if synthesized.config.submission_port_enabled:
            expected.append("<output:PublishOutputRefSubmissionCredentialsSecret")
        # GetSecretValue only (no Describe, List or Put), each on one whole secret ARN (the
        # secret's Ref), and on nothing else.
        assert {a for a, _ in secrets} == {"secretsmanager:GetSecretValue"}
        assert sorted(next(e for e in expected if r.startswith(e)) for _, r in secrets) == sorted(
            expected
        )
        assert all("*" not in r for _, r in secrets)
        # The default aws/secretsmanager key: no KMS grant beyond the message key's.
        kms = {r for a, r in grants(template, role) if a == "kms:Decrypt"}
        assert all(r.startswith("<output:PublishOutputFnGetAttMessageKeyArn") for r in kms)
        # The execution role (which pulls the image) gets no secret at all.
        execution = logical_id_of(template, "AWS::IAM::Role", "RelayTaskExecutionRole")
        assert not {a for a, _ in grants(template, execution) if a.startswith("secretsmanager:")}
