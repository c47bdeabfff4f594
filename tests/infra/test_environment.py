"""The INLET_* variables the CDK app gives the relay and the functions are their own settings
(inlet/settings.py), read back from the synthesized templates: a setting renamed or removed
there cannot leave a deployment setting a variable nobody reads."""

from typing import Any

import pytest

from infra.constructs import relay_service as relay
from inlet import settings
from tests.infra.cfn import flatten, one, resources
from tests.infra.conftest import REPO_ROOT, Synth
from tests.infra.test_functions import functions

pytestmark = pytest.mark.infra

PREFIX = "INLET_"
OPTION_VARIABLES = {opt.env for opt in settings.OPTIONS}


def task_environments(synth: Synth) -> dict[str, dict[str, str]]:
    """Each container of the relay's task definition: its variables, values flattened."""
    task = one(synth.template_json(synth.pipeline), "AWS::ECS::TaskDefinition")
    return {
        c["Name"]: {e["Name"]: flatten(e["Value"]) for e in c.get("Environment", [])}
        for c in task["Properties"]["ContainerDefinitions"]
    }


def function_environments(synth: Synth) -> dict[str, dict[str, str]]:
    """Every Lambda function of both stacks (CDK's own included): its variables, flattened."""
    found = {}
    for stack in (synth.storage, synth.pipeline):
        for logical_id, resource in resources(
            synth.template_json(stack), "AWS::Lambda::Function"
        ).items():
            variables: dict[str, Any] = (
                resource["Properties"].get("Environment", {}).get("Variables", {})
            )
            found[logical_id] = {name: flatten(value) for name, value in variables.items()}
    return found


def inlet_variables(environment: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in environment.items() if name.startswith(PREFIX)}


def test_every_inlet_variable_in_the_templates_is_a_setting(env_synth: Synth) -> None:
    environments = {
        **{f"container {k}": v for k, v in task_environments(env_synth).items()},
        **{f"function {k}": v for k, v in function_environments(env_synth).items()},
    }
    for where, environment in environments.items():
        unknown = set(inlet_variables(environment)) - OPTION_VARIABLES
        assert not unknown, f"{where}: {sorted(unknown)} are not inlet settings"
    # Not vacuously: the relay and each of Inlet's functions are configured this way.
    assert inlet_variables(task_environments(env_synth)[relay.CONTAINER_NAME])
    for name, (logical_id, _) in functions(env_synth).items():
        assert inlet_variables(function_environments(env_synth)[logical_id]), name


def test_the_relay_loads_its_settings_from_the_task_environment(env_synth: Synth) -> None:
    config = env_synth.config
    environment = task_environments(env_synth)[relay.CONTAINER_NAME]
    loaded = settings.load("relay", {}, inlet_variables(environment))
    assert loaded.domains == config.domains
    assert loaded.hostname == config.hostname
    assert loaded.proxy_protocol is True
    assert loaded.smtp_port == relay.CONTAINER_SMTP_PORT
    assert loaded.health_port == relay.HEALTH_PORT
    assert loaded.drain_seconds == config.drain_seconds
    assert loaded.max_message_size == config.max_message_size
    assert loaded.bucket is not None
    assert loaded.table is None
    # STARTTLS from the storage stack's secret, reread as the environment says.
    assert loaded.tls_secret is not None
    assert (loaded.tls_cert, loaded.tls_key) == (None, None)
    assert loaded.secrets_refresh == config.secrets_refresh_seconds
    assert loaded.require_tls is False
    if config.submission_port_enabled:
        assert loaded.submission_port == relay.CONTAINER_SUBMISSION_PORT
        assert loaded.auth_secret is not None
    else:
        assert (loaded.submission_port, loaded.auth_secret) == (None, None)


def test_the_functions_load_their_settings_from_their_environment(env_synth: Synth) -> None:
    config = env_synth.config
    for name, (logical_id, _) in functions(env_synth).items():
        environment = function_environments(env_synth)[logical_id]
        loaded = settings.load("tool", {}, inlet_variables(environment))
        assert loaded.retention_days == config.retention_days, name
        assert dict(loaded.retention_overrides) == dict(config.retention_overrides), name
        assert loaded.bucket is not None, name
        assert loaded.table is not None, name
        assert loaded.log_level == "INFO", name
        # The verdicts' authserv-id is the relay's name; their DNS is the Lambda service's
        # resolver (docs/deploy.md, "DNS for the verdicts"): no INLET_DNS_RESOLVER, no VPC.
        assert loaded.hostname == config.hostname, name
        assert loaded.dns_resolver is None, name


def test_the_functions_ask_dns_from_outside_the_vpc(env_synth: Synth) -> None:
    for name, (_, props) in functions(env_synth).items():
        assert "VpcConfig" not in props, name


def test_environment_maps_setting_names_to_their_variables_in_order() -> None:
    assert settings.environment({"max_message_size": "1024", "domains": "example.com"}) == {
        "INLET_MAX_MESSAGE_SIZE": "1024",
        "INLET_DOMAINS": "example.com",
    }
    assert list(settings.environment({"log_level": "INFO", "bucket": "b"})) == [
        "INLET_LOG_LEVEL",
        "INLET_BUCKET",
    ]
    assert settings.environment({}) == {}


@pytest.mark.parametrize(
    "values",
    [{"no_such_setting": "x"}, {"domains": "example.com", "no_such_setting": "x"}],
)
def test_environment_refuses_a_name_that_is_no_setting(values: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"not an inlet setting: 'no_such_setting' \(") as info:
        settings.environment(values)
    # Only the unknown name is quoted as the culprit; the valid ones are listed after it.
    assert "'domains'" not in str(info.value)
    assert "domains" in str(info.value)


def test_environment_wants_the_setting_not_its_variable() -> None:
    with pytest.raises(ValueError, match="'INLET_DOMAINS'"):
        settings.environment({"INLET_DOMAINS": "example.com"})


def test_the_cdk_app_spells_no_inlet_variable_itself() -> None:
    # Every name comes from settings.environment(); a literal would bypass the check above.
    literals = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for path in sorted((REPO_ROOT / "infra").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if f'"{PREFIX}' in line or f"'{PREFIX}" in line
    ]
    assert literals == []
