"""Linters over every synthesized variant: cdk-nag (AwsSolutions) with zero unacknowledged
findings, no CDK warnings or errors, and cfn-lint clean at error and warning level."""

from collections.abc import Callable
from pathlib import Path

import pytest
from aws_cdk import Validations
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]

from tests.infra.conftest import ARCHES, ENVS, Synth

pytestmark = pytest.mark.infra

VARIANTS = [(env, arch) for env in ENVS for arch in ARCHES]


@pytest.mark.parametrize(("env", "arch"), VARIANTS)
def test_cdk_nag_has_no_unacknowledged_findings(
    synth: Callable[..., Synth], env: str, arch: str
) -> None:
    synthesized = synth(env, arch)  # the synthesis itself fails on a finding; this lists them
    report = AwsSolutionsChecks().validate_scope(synthesized.app)
    findings = [
        (v.severity, v.rule_name, [r.construct_path for r in v.violating_resources])
        for v in report.violations
    ]
    assert findings == []
    assert report.success


@pytest.mark.parametrize(("env", "arch"), VARIANTS)
def test_no_cdk_warnings_or_errors(synth: Callable[..., Synth], env: str, arch: str) -> None:
    synthesized = synth(env, arch)
    for stack in (synthesized.storage, synthesized.pipeline):
        annotations = Annotations.from_stack(stack)
        assert annotations.find_error("*", Match.any_value()) == []
        assert annotations.find_warning("*", Match.any_value()) == []
        # cdk-nag 3 reports through the validation report, not annotations: none of its
        # findings may surface as annotations either.
        assert annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
        assert annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")) == []


def test_every_acknowledgment_gives_its_reason(staging: Synth, production: Synth) -> None:
    acknowledged: dict[str, str] = {}
    for synthesized in (staging, production):
        for construct in synthesized.app.node.find_all():
            for entry in construct.node.metadata:
                if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                    acknowledged.update(entry.data)
    assert acknowledged
    for rule, reason in acknowledged.items():
        assert len(reason.split()) >= 8, f"{rule}: {reason!r} is not a reason"
    rules = {rule.split("::", 1)[-1].split("[", 1)[0] for rule in acknowledged}
    # The complete list, so that a new kind of acknowledgment is a conscious change.
    assert rules == {
        "AwsSolutions-ECS2",
        "AwsSolutions-EC23",
        "AwsSolutions-ELB2",
        "AwsSolutions-IAM4",
        "AwsSolutions-IAM5",
        "AwsSolutions-L1",
        # The relay's secrets: renewal and rotation happen outside Secrets Manager.
        "AwsSolutions-SMG4",
        "W3010",
        # aws-cdk-lib's own, on every VPC flow log (a CloudFormation schema quirk).
        "F3002",
        "F3003",
    }


# Ignored for every template, with the reason: CDK adds explicit DependsOn entries that repeat
# a dependency a GetAtt already implies (a Lambda function on its role, its own custom-resource
# providers). Harmless, and not ours to change.
IGNORED_CFN_LINT = ["W3005"]


def cfn_lint(template: Path, region: str) -> list[str]:
    matches = lint_file(
        template, config=ManualArgs(regions=[region], ignore_checks=IGNORED_CFN_LINT)
    )
    return [f"{m.rule.id} {m.message} ({template.name}:{m.linenumber})" for m in matches]


@pytest.mark.parametrize(("env", "arch"), VARIANTS)
def test_cfn_lint_is_clean(synth: Callable[..., Synth], env: str, arch: str) -> None:
    synthesized = synth(env, arch)
    templates = sorted(synthesized.outdir.glob("*.template.json"))
    assert len(templates) == 2
    problems = [p for t in templates for p in cfn_lint(t, synthesized.config.region)]
    assert problems == []


def test_cfn_lint_would_flag_a_deprecated_runtime(tmp_path: Path) -> None:
    template = tmp_path / "old.json"
    template.write_text(
        """{"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "python3.7", "Handler": "x.handler", "Role": "arn:aws:iam::123456789012:role/x",
        "Code": {"ZipFile": "x"}}}}}"""
    )
    assert any(p.startswith(("E2531", "W2531", "E2533")) for p in cfn_lint(template, "us-east-1"))
