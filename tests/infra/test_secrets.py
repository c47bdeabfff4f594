"""The relay's secrets in the storage stack: the STARTTLS certificate always, the submission
credentials with the submission port; pinned, retained in production, created with
placeholders the relay understands, and published as outputs for `put-secret-value`."""

from collections.abc import Callable

import pytest

from infra.constructs.secrets import CREDENTIALS_PLACEHOLDER, LOGICAL_IDS, TLS_PLACEHOLDER
from relay import tls
from tests.infra.cfn import flatten, resources
from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

SECRET = "AWS::SecretsManager::Secret"


def test_the_logical_ids_of_the_secrets_are_pinned(synth: Callable[..., Synth]) -> None:
    # Exact values: changing one replaces the secret, and the operator's certificate with it.
    assert LOGICAL_IDS == {"tls": "TlsSecret", "credentials": "SubmissionCredentialsSecret"}
    for submission, expected in ((False, {"TlsSecret"}), (True, set(LOGICAL_IDS.values()))):
        synthesized = synth("staging", submission=submission)
        assert set(resources(synthesized.template_json(synthesized.storage), SECRET)) == expected
        # Stateful: nothing of the kind in the pipeline stack.
        assert not resources(synthesized.template_json(synthesized.pipeline), SECRET)


def test_production_retains_the_secrets_and_staging_does_not(
    staging: Synth, production: Synth
) -> None:
    for synthesized, policy in ((production, "Retain"), (staging, "Delete")):
        for secret in resources(synthesized.template_json(synthesized.storage), SECRET).values():
            assert secret["DeletionPolicy"] == policy, synthesized.config.name
            assert secret["UpdateReplacePolicy"] == policy, synthesized.config.name


def test_the_secrets_start_as_placeholders_the_relay_understands(production: Synth) -> None:
    found = resources(production.template_json(production.storage), SECRET)
    tls_secret = found[LOGICAL_IDS["tls"]]["Properties"]
    # Never changed: CloudFormation would write a new placeholder over the stored certificate.
    assert TLS_PLACEHOLDER == '{"certificate": "", "private_key": ""}'
    assert tls_secret["SecretString"] == TLS_PLACEHOLDER
    # The relay reads it as "no certificate yet" (STARTTLS not offered until one is put).
    assert tls.parse_secret(TLS_PLACEHOLDER.encode(), "placeholder") is None
    assert "GenerateSecretString" not in tls_secret
    credentials = found[LOGICAL_IDS["credentials"]]["Properties"]
    assert credentials["SecretString"] == CREDENTIALS_PLACEHOLDER
    # An auth file with comments only: no user, no hash, nothing to log in with.
    lines = [line for line in CREDENTIALS_PLACEHOLDER.splitlines() if line.strip()]
    assert lines
    assert all(line.startswith("#") for line in lines)
    for secret in (tls_secret, credentials):
        # The account's aws/secretsmanager key: no key policy or KMS grant to keep in step.
        assert "KmsKeyId" not in secret
        assert production.config.name in secret["Description"]
    assert production.config.hostname in tls_secret["Description"]


def test_renewal_happens_outside_secrets_manager(env_synth: Synth) -> None:
    # Documented in docs/deploy.md and in the SMG4 acknowledgments: the ACME client puts each
    # renewed certificate, operators put rotated credentials; no rotation function.
    for stack in (env_synth.storage, env_synth.pipeline):
        template = env_synth.template_json(stack)
        assert not resources(template, "AWS::SecretsManager::RotationSchedule")


def test_outputs_name_the_secrets_to_put_values_into(synth: Callable[..., Synth]) -> None:
    for submission in (False, True):
        synthesized = synth("staging", submission=submission)
        outputs = synthesized.template_json(synthesized.storage)["Outputs"]
        assert flatten(outputs["TlsSecretArn"]["Value"]) == "<TlsSecret>"
        if submission:
            assert flatten(outputs["CredentialsSecretArn"]["Value"]) == (
                "<SubmissionCredentialsSecret>"
            )
        else:
            assert "CredentialsSecretArn" not in outputs
