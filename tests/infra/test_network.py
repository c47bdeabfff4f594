"""The VPC: zones and NAT per environment, gateway endpoints, flow logs."""

import pytest

from tests.infra.cfn import flatten, one, resources
from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


def test_subnets_span_the_configured_zones(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    subnets = resources(template, "AWS::EC2::Subnet").values()
    zones = {s["Properties"]["AvailabilityZone"] for s in subnets}
    assert zones == set(env_synth.config.availability_zones)
    assert len(zones) >= 2
    public = [s for s in subnets if s["Properties"]["MapPublicIpOnLaunch"]]
    private = [s for s in subnets if not s["Properties"]["MapPublicIpOnLaunch"]]
    assert len(public) == len(private) == len(zones)


def test_nat_gateways_per_environment(staging: Synth, production: Synth) -> None:
    for synth, expected in ((staging, 1), (production, 3)):
        template = synth.template_json(synth.pipeline)
        assert len(resources(template, "AWS::EC2::NatGateway")) == expected
        assert synth.config.nat_gateways == expected


def test_s3_and_dynamodb_gateway_endpoints(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    endpoints = resources(template, "AWS::EC2::VPCEndpoint").values()
    services = {flatten(e["Properties"]["ServiceName"]) for e in endpoints}
    assert services == {"com.amazonaws.<AWS::Region>.s3", "com.amazonaws.<AWS::Region>.dynamodb"}
    for endpoint in endpoints:
        assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
        # Routed from the private subnets, where the relay runs.
        route_tables = {flatten(r) for r in endpoint["Properties"]["RouteTableIds"]}
        assert any("private" in r for r in route_tables)


def test_flow_logs_go_to_a_log_group_with_retention(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    flow_log = one(template, "AWS::EC2::FlowLog")["Properties"]
    assert flow_log["ResourceType"] == "VPC"
    assert flow_log["LogDestinationType"] == "cloud-watch-logs"
    group = flatten(flow_log["LogGroupName"]).strip("<>")
    assert template["Resources"][group]["Properties"]["RetentionInDays"] == (
        env_synth.config.log_retention_days
    )


def test_every_log_group_has_a_retention(env_synth: Synth) -> None:
    for stack in (env_synth.storage, env_synth.pipeline):
        for name, group in resources(env_synth.template_json(stack), "AWS::Logs::LogGroup").items():
            assert "RetentionInDays" in group["Properties"], name
