"""The CDK app: `cdk synth --context env=staging` (or production; `make synth ENV=...`).

This module is the only reader of `--context`:
- `env`: the environment from infra/config.py (required);
- `arch`: `arm64` or `x86_64`, overriding the environment's relay architecture.
Synthesis is offline: no AWS credentials, no Docker (the relay image is only staged).
"""

import dataclasses
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import EnvironmentConfig, UnknownEnvironment, config_for
from infra.stacks import PipelineStack, StorageStack
from infra.units import Architecture

ARCHITECTURES: dict[str, Architecture] = {"arm64": "ARM64", "x86_64": "X86_64"}


def build_app(config: EnvironmentConfig, app: cdk.App | None = None) -> cdk.App:
    """Both stacks of `config` in `app` (a new one if None), checked by cdk-nag at synth."""
    app = app if app is not None else cdk.App()
    prefix = config.stack_prefix
    storage = StorageStack(app, f"{prefix}-Storage", config=config)
    PipelineStack(
        app,
        f"{prefix}-Pipeline",
        config=config,
        storage=storage.storage,
        secrets=storage.secrets,
        events=storage.events,
    )
    # cdk-nag 3 is a policy-validation plugin: synthesis fails on any unacknowledged finding,
    # errors and warnings alike.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def config_from_context(app: cdk.App) -> EnvironmentConfig:
    config = config_for(app.node.try_get_context("env"))
    arch = app.node.try_get_context("arch")
    if arch is None:
        return config
    if str(arch).lower() not in ARCHITECTURES:
        raise UnknownEnvironment(
            f"unknown arch {arch!r}: valid values are {', '.join(ARCHITECTURES)}"
        )
    return dataclasses.replace(config, relay_architecture=ARCHITECTURES[str(arch).lower()])


def main() -> int:
    app = cdk.App()
    try:
        config = config_from_context(app)
    except UnknownEnvironment as exc:
        print(f"inlet: {exc}", file=sys.stderr)
        return 2
    build_app(config, app).synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
