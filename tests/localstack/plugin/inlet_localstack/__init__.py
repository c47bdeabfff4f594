"""LocalStack plugin for Inlet's test tier (LocalStack 2026.3.0, host mode, no Docker, no Java).

- ``lambda_process``: a Lambda runtime executor that runs each execution environment as a host
  process instead of a Docker container (``LAMBDA_RUNTIME_EXECUTOR=process``).
- ``dynamodb_moto``: DynamoDB served by the moto bundled in LocalStack instead of DynamoDB Local,
  which needs Java (``PROVIDER_OVERRIDE_DYNAMODB=moto``).
- ``custom_resource``: CloudFormation custom resources (CDK's bucket notifications, auto-delete,
  default security group), which community LocalStack deploys as silent no-ops.
"""
