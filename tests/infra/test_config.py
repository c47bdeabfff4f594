"""Environments in code, selected by --context env=…; the pinned CDK CLI synthesizing offline."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.config import (
    ENVIRONMENTS,
    PRODUCTION,
    STAGING,
    EnvironmentConfig,
    UnknownEnvironment,
    config_for,
)

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"
VALID = "production, staging"


def offline_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: no AWS credentials or profile at all, no Docker, no
    telemetry or version checks, .venv/bin first on PATH (as `make synth` does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        PATH=f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        # Any attempt to run Docker fails loudly instead of silently finding one.
        CDK_DOCKER="/nonexistent/docker",
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="true",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        # A home without ~/.aws, so no shared config or credentials file can be found either.
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def test_the_two_environments_are_defined_in_code() -> None:
    assert dict(ENVIRONMENTS) == {"staging": STAGING, "production": PRODUCTION}
    assert config_for("staging") is STAGING
    assert config_for("production") is PRODUCTION
    for config in ENVIRONMENTS.values():
        assert len(config.availability_zones) >= 2
        assert all(az.startswith(config.region) for az in config.availability_zones)
        assert config.relay_architecture == "ARM64"
    assert PRODUCTION.production
    assert not STAGING.production


@pytest.mark.parametrize("name", ["nope", "Staging", "", None])
def test_an_unknown_or_missing_environment_lists_the_valid_ones(name: str | None) -> None:
    with pytest.raises(UnknownEnvironment, match=VALID.replace(", ", ".*")):
        config_for(name)


def test_configs_are_frozen_and_validated() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        STAGING.name = "other"  # type: ignore[misc]
    broken: dict[str, Any] = {
        "availability_zones": ("us-east-1a",),
        "drain_seconds": 110,
        "relay_memory_mib": 700,
        "relay_min_tasks": 3,
        "retention_schedule": "daily",
        "log_retention_days": 10,
        "domains": (),
        "alarm_emails": ("not-an-address",),
        "parse_reserved_concurrency": 1,
        "secrets_refresh_seconds": 10,
    }
    for field, value in broken.items():
        with pytest.raises(ValueError, match=r"environment 'staging'"):
            dataclasses.replace(STAGING, **{field: value})


def test_derived_values() -> None:
    assert STAGING.stop_timeout_seconds > STAGING.drain_seconds
    assert PRODUCTION.stop_timeout_seconds <= 120
    assert PRODUCTION.longest_retention_days == 3650
    assert PRODUCTION.expiry_backstop_days > PRODUCTION.longest_retention_days
    assert PRODUCTION.retention_overrides_value == "legal.example.com=3650"
    assert isinstance(dataclasses.replace(STAGING, relay_architecture="X86_64"), EnvironmentConfig)


def run_app(context: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m infra.app` as the CLI runs it: context in CDK_CONTEXT_JSON."""
    return subprocess.run(
        [sys.executable, "-m", "infra.app"],
        cwd=REPO_ROOT,
        env=offline_env(CDK_CONTEXT_JSON=json.dumps(context), CDK_OUTDIR="/nonexistent/out"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("context", [{"env": "nope"}, {}], ids=["unknown", "missing"])
def test_the_app_refuses_an_unknown_or_missing_environment(context: dict[str, str]) -> None:
    result = run_app(context)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert VALID.split(", ")[0] in lines[0]
    assert VALID.split(", ")[1] in lines[0]


def test_the_app_refuses_an_unknown_architecture() -> None:
    result = run_app({"env": "staging", "arch": "sparc"})
    assert result.returncode == 2
    assert "arm64" in result.stderr
    assert "x86_64" in result.stderr


def cdk_synth(env: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CDK), "synth", "--context", f"env={env}", "-o", str(outdir), "--no-notices", "-q"],
        cwd=REPO_ROOT,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_pinned_cli_reports_an_unknown_environment(tmp_path: Path) -> None:
    result = cdk_synth("nope", tmp_path / "out")
    assert result.returncode != 0
    assert "unknown environment 'nope': valid environments are production, staging" in (
        result.stdout + result.stderr
    )


@pytest.mark.parametrize("env", ["staging", "production"])
def test_the_pinned_cli_synthesizes_offline(env: str, tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    result = cdk_synth(env, outdir)
    assert result.returncode == 0, result.stdout + result.stderr
    prefix = f"Inlet-{env}"
    for stack in ("Storage", "Pipeline"):
        assert (outdir / f"{prefix}-{stack}.template.json").is_file()
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert {f"{prefix}-Storage", f"{prefix}-Pipeline"} <= set(manifest["artifacts"])


def test_each_construct_gets_its_share_of_the_environment() -> None:
    for config in ENVIRONMENTS.values():
        relay = config.relay_service
        assert (relay.architecture, relay.cpu, relay.memory_mib) == (
            config.relay_architecture,
            config.relay_cpu,
            config.relay_memory_mib,
        )
        assert relay.stop_timeout_seconds == config.stop_timeout_seconds
        assert relay.deletion_protection is config.production
        assert config.functions.retention_overrides == config.retention_overrides_value
        assert config.storage.production is config.production
        assert config.storage.expiry_backstop_days == config.expiry_backstop_days
        assert config.network.availability_zones == config.availability_zones
        assert config.monitoring.environment == config.name
        assert relay.secrets_refresh_seconds == config.secrets_refresh_seconds
        assert config.secrets.submission_port_enabled is config.submission_port_enabled
        assert config.secrets.hostname == config.hostname
        assert config.secrets.production is config.production
        for share in (
            config.network,
            config.storage,
            config.secrets,
            config.relay_service,
            config.functions,
            config.monitoring,
        ):
            first = dataclasses.fields(share)[0].name
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(share, first, None)
    # What `--context arch` replaces reaches the relay service.
    x86 = dataclasses.replace(STAGING, relay_architecture="X86_64")
    assert x86.relay_service.architecture == "X86_64"
