"""The relay's operator-supplied secrets, in Secrets Manager: the STARTTLS certificate chain and
private key (always), and the submission credentials (with the submission port).

They belong to the storage stack: like stored mail they are data no deploy can recreate (a
certificate an operator obtained, the users of the submission port), so they are kept apart
from the stateless pipeline, their logical IDs are pinned (LOGICAL_IDS) and production retains
them when its stack is deleted.

The CDK app creates each secret with a placeholder value and never writes it again (a
placeholder that never changes is never re-applied by CloudFormation). Operators put the real
values with `aws secretsmanager put-secret-value` (docs/deploy.md); the relay rereads both every
INLET_SECRETS_REFRESH seconds, so a renewal or rotation needs no deploy and no restart. Each uses
the account's AWS-managed key for Secrets Manager (aws/secretsmanager): it decrypts only through
Secrets Manager, for principals that GetSecretValue already allows.
"""

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.constructs import acknowledge
from infra.constructs.storage import pin_logical_id
from infra.units import SecretsConfig
from relay import tls

# Pinned CloudFormation logical IDs (tests hold them; changing one replaces the secret, and the
# operator's certificate or credentials with it).
LOGICAL_IDS = {"tls": "TlsSecret", "credentials": "SubmissionCredentialsSecret"}

# What the secrets hold until an operator puts the real values. The relay reads the TLS
# placeholder as "no certificate yet" (STARTTLS not offered until one arrives); the credentials
# placeholder is an auth file with no users. Never change them: CloudFormation would write the
# new placeholder over whatever the operator stored.
TLS_PLACEHOLDER = tls.PLACEHOLDER
CREDENTIALS_PLACEHOLDER = (
    "# Inlet submission credentials: one user:<hash> line per user, each hash from "
    "`inlet auth hash` (docs/deploy.md)\n"
)


class RelaySecrets(Construct):
    def __init__(self, scope: Construct, id: str, *, config: SecretsConfig) -> None:
        super().__init__(scope, id)
        removal = RemovalPolicy.RETAIN if config.production else RemovalPolicy.DESTROY

        self.tls = self._secret(
            "Tls",
            "tls",
            description=(
                f"Inlet {config.environment}: STARTTLS certificate chain and private key for "
                f'{config.hostname}, as JSON {{"{tls.CERTIFICATE_FIELD}": PEM chain, '
                f'"{tls.PRIVATE_KEY_FIELD}": PEM key}}'
            ),
            placeholder=TLS_PLACEHOLDER,
            removal=removal,
            rotation=(
                "rotation is certificate renewal, outside Secrets Manager: the ACME client "
                "(certbot with the Route 53 DNS challenge, docs/deploy.md) writes each renewed "
                "certificate as a new version, and the relays reread it every refresh "
                "interval; a rotation function cannot obtain a certificate"
            ),
        )
        self.credentials: secretsmanager.Secret | None = None
        if config.submission_port_enabled:
            self.credentials = self._secret(
                "Credentials",
                "credentials",
                description=(
                    f"Inlet {config.environment}: submission (port 587) credentials, one "
                    "user:hash line per user (hashes from `inlet auth hash`)"
                ),
                placeholder=CREDENTIALS_PLACEHOLDER,
                removal=removal,
                rotation=(
                    "the secret holds only password hashes; a password is rotated by the "
                    "operator who shares it with the client application (a new hash "
                    "from `inlet auth hash`, put as a new version), and the relays reread "
                    "it every refresh interval; a rotation function could not hand the new "
                    "password to the clients"
                ),
            )

    def _secret(
        self,
        id: str,
        kind: str,
        *,
        description: str,
        placeholder: str,
        removal: RemovalPolicy,
        rotation: str,
    ) -> secretsmanager.Secret:
        """One operator-filled secret: its placeholder, pinned logical id, and why it has no
        Secrets Manager rotation (`rotation`, for cdk-nag)."""
        secret = secretsmanager.Secret(
            self,
            id,
            description=description,
            secret_string_value=SecretValue.unsafe_plain_text(placeholder),
            removal_policy=removal,
        )
        pin_logical_id(secret, LOGICAL_IDS[kind])
        acknowledge(secret, {"AwsSolutions-SMG4": rotation})
        return secret
