"""The VPC: public subnets for the load balancer, private subnets (with NAT egress) for the
relay tasks, gateway endpoints so S3 and DynamoDB traffic never crosses a NAT gateway."""

from aws_cdk import CfnResource, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs import acknowledge, log_retention
from infra.units import NetworkConfig


class Network(Construct):
    def __init__(self, scope: Construct, id: str, *, config: NetworkConfig) -> None:
        super().__init__(scope, id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.cidr),
            availability_zones=list(config.availability_zones),
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
            ],
            # The relay streams every message to S3: through a gateway endpoint that costs
            # nothing per GB, where a NAT gateway would charge for each byte.
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
                ),
            },
        )
        # The zones are fixed in config on purpose (synthesis must not look them up).
        for subnet in (*self.vpc.public_subnets, *self.vpc.private_subnets):
            resource = subnet.node.default_child
            assert isinstance(resource, CfnResource)
            resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3010"]}})
        acknowledge(
            self.vpc,
            {
                "CloudFormation-Validate::W3010": (
                    "availability zones are fixed per environment in infra/config.py so that "
                    "synthesis needs no AWS lookup"
                )
            },
        )
        # Rejected flows only: enough to debug security groups and to see who probes the MX
        # hosts, at a fraction of the cost of logging every accepted SMTP connection.
        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=log_retention(config.flow_log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

    @property
    def public_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
