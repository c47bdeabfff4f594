"""Synthesis is slow (every CDK call crosses into a Node process), so each variant of the app
is synthesized once per session and every test reads the same templates."""

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii prints a banner on every start when Node has reached its end of life (Node 20 here).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.config import ENVIRONMENTS, EnvironmentConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


@dataclass
class Synth:
    """One synthesized app: its config, the construct tree and the cloud assembly on disk."""

    config: EnvironmentConfig
    app: cdk.App
    outdir: Path
    storage: cdk.Stack
    pipeline: cdk.Stack

    def template_json(self, stack: cdk.Stack) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.outdir / f"{stack.artifact_id}.template.json").read_text()
        )
        return data

    @property
    def storage_template(self) -> Template:
        return Template.from_json(self.template_json(self.storage))

    @property
    def pipeline_template(self) -> Template:
        return Template.from_json(self.template_json(self.pipeline))

    def assets(self, stack: cdk.Stack) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.outdir / f"{stack.artifact_id}.assets.json").read_text()
        )
        return data


def synthesize(config: EnvironmentConfig, outdir: Path) -> Synth:
    # The feature flags of cdk.json, as the CLI would pass them.
    app = cdk.App(outdir=str(outdir), context=CDK_JSON_CONTEXT)
    build_app(config, app)
    app.synth()  # cdk-nag runs here: any unacknowledged finding fails the synthesis
    stacks = {child.node.id: child for child in app.node.children if isinstance(child, cdk.Stack)}
    return Synth(
        config=config,
        app=app,
        outdir=outdir,
        storage=stacks[f"{config.stack_prefix}-Storage"],
        pipeline=stacks[f"{config.stack_prefix}-Pipeline"],
    )


# (environment, architecture, submission port, webhook) → Synth, built on first use.
_CACHE: dict[tuple[str, str, bool | None, bool], Synth] = {}
WEBHOOK_URL = "https://hooks.example.net/inlet/events"


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synth]:
    def get(
        env: str, arch: str = "ARM64", *, submission: bool | None = None, webhook: bool = False
    ) -> Synth:
        key = (env, arch, submission, webhook)
        if key not in _CACHE:
            config = dataclasses.replace(ENVIRONMENTS[env], relay_architecture=arch)  # type: ignore[arg-type]
            if submission is not None:
                config = dataclasses.replace(config, submission_port_enabled=submission)
            if webhook:
                config = dataclasses.replace(config, webhook_url=WEBHOOK_URL)
            outdir = tmp_path_factory.mktemp(f"cdk-{env}-{arch}-{submission}-{webhook}")
            _CACHE[key] = synthesize(config, outdir)
        return _CACHE[key]

    return get


ENVS = sorted(ENVIRONMENTS)
ARCHES = ("ARM64", "X86_64")


@pytest.fixture(params=ENVS)
def env_synth(request: pytest.FixtureRequest, synth: Callable[..., Synth]) -> Synth:
    """Each environment at its configured (default ARM64) architecture."""
    return synth(request.param)


@pytest.fixture(scope="session")
def staging(synth: Callable[..., Synth]) -> Synth:
    return synth("staging")


@pytest.fixture(scope="session")
def production(synth: Callable[..., Synth]) -> Synth:
    return synth("production")


def all_variants(synth: Callable[..., Synth]) -> Iterator[Synth]:
    for env in ENVS:
        for arch in ARCHES:
            yield synth(env, arch)
