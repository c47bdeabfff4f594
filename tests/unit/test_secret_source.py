"""The secret-source port: one contract over both adapters (a file, and Secrets Manager under
moto), then each adapter's failures as the project's errors, never with the material in them."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws

from inlet.errors import NotFoundError, PermanentError, TransientError
from inlet.secret_source import (
    MAX_SECRET_BYTES,
    FileSource,
    SecretsManagerSource,
    SecretSource,
    client_config,
)

pytestmark = pytest.mark.unit

VALUE = b"alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\n"
NEW_VALUE = b"bob:$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA\n"


@pytest.fixture
def secretsmanager() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1", config=client_config())


# A source holding VALUE, and how to replace what it holds (a rotation).
Rotating = tuple[SecretSource, Callable[[bytes], None]]


@pytest.fixture(params=["file", "secretsmanager"])
def rotating(request: pytest.FixtureRequest, tmp_path: Path) -> Rotating:
    if request.param == "file":
        path = tmp_path / "auth"
        path.write_bytes(VALUE)

        def replace_file(data: bytes) -> None:
            # As a deployment tool would: a new file renamed over the old one.
            staged = tmp_path / "auth.new"
            staged.write_bytes(data)
            staged.replace(path)

        return FileSource(path), replace_file
    client = request.getfixturevalue("secretsmanager")
    arn = client.create_secret(Name="inlet/auth", SecretString=VALUE.decode())["ARN"]

    def put(data: bytes) -> None:
        client.put_secret_value(SecretId=arn, SecretString=data.decode())

    return SecretsManagerSource(client, arn), put


def test_a_read_returns_what_the_source_holds_now(rotating: Rotating) -> None:
    source, replace = rotating
    assert source.read() == VALUE
    assert source.read() == VALUE
    replace(NEW_VALUE)
    assert source.read() == NEW_VALUE


def test_describe_names_the_place_not_the_value(rotating: Rotating) -> None:
    source, _ = rotating
    description = source.describe()
    assert description.startswith(("file ", "Secrets Manager secret "))
    assert VALUE.decode() not in description
    assert "alice" not in description


# -- the file adapter ------------------------------------------------------------------


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    source = FileSource(tmp_path / "nowhere.pem")
    with pytest.raises(NotFoundError, match=r"nowhere\.pem: no such file"):
        source.read()


def test_a_directory_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="cannot read it") as caught:
        FileSource(tmp_path).read()
    assert not isinstance(caught.value, TransientError)


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    with pytest.raises(PermanentError, match="larger than"):
        FileSource(path).read()


# -- the Secrets Manager adapter -------------------------------------------------------


def test_the_current_version_is_read_after_a_rotation_stage_moves(secretsmanager: Any) -> None:
    client = secretsmanager
    arn = client.create_secret(Name="inlet/tls", SecretString="one")["ARN"]
    source = SecretsManagerSource(client, arn)
    # A pending version (what a rotation function writes first) is not current yet.
    pending = client.put_secret_value(
        SecretId=arn, SecretString="two", VersionStages=["AWSPENDING"]
    )["VersionId"]
    assert source.read() == b"one"
    current = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    old = next(v for v, stages in current.items() if "AWSCURRENT" in stages)
    client.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=pending, RemoveFromVersionId=old
    )
    assert source.read() == b"two"


def test_a_missing_secret_is_not_found(secretsmanager: Any) -> None:
    source = SecretsManagerSource(secretsmanager, "inlet/none")
    with pytest.raises(NotFoundError, match=r"inlet/none: GetSecretValue failed \(ResourceNot"):
        source.read()


def test_a_secret_scheduled_for_deletion_is_a_permanent_error(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(Name="inlet/old", SecretString="x")["ARN"]
    secretsmanager.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    with pytest.raises(PermanentError, match="InvalidRequestException") as caught:
        SecretsManagerSource(secretsmanager, arn).read()
    assert not isinstance(caught.value, NotFoundError)


def test_a_binary_secret_is_refused(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(Name="inlet/bin", SecretBinary=b"\x00\x01")["ARN"]
    with pytest.raises(PermanentError, match="no SecretString"):
        SecretsManagerSource(secretsmanager, arn).read()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ThrottlingException", TransientError),
        ("InternalServiceError", TransientError),
        ("AccessDeniedException", PermanentError),
        ("DecryptionFailure", PermanentError),
    ],
)
def test_error_answers_are_transient_or_permanent(code: str, expected: type[Exception]) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1", config=client_config())
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", service_error_code=code, http_status_code=400)
        with pytest.raises(expected, match=code) as caught:
            SecretsManagerSource(client, "inlet/tls").read()
    if expected is PermanentError:
        assert not isinstance(caught.value, TransientError)


def test_an_unreachable_secrets_manager_is_transient() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1", config=client_config())

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com")

    client.meta.events.register("before-send.secrets-manager.GetSecretValue", unreachable)
    with pytest.raises(TransientError, match="unreachable"):
        SecretsManagerSource(client, "inlet/tls").read()


def test_errors_never_carry_the_value(secretsmanager: Any, tmp_path: Path) -> None:
    arn = secretsmanager.create_secret(Name="inlet/bin2", SecretBinary=VALUE)["ARN"]
    with pytest.raises(PermanentError) as caught:
        SecretsManagerSource(secretsmanager, arn).read()
    assert VALUE.decode() not in str(caught.value)
    path = tmp_path / "big"
    path.write_bytes(VALUE * (MAX_SECRET_BYTES // len(VALUE) + 1))
    with pytest.raises(PermanentError) as caught:
        FileSource(path).read()
    assert "alice" not in str(caught.value)
