"""The three Lambdas: runtime, architecture, code, configuration, triggers and roles."""

import struct
from pathlib import Path
from typing import Any

import pytest

from functions import metrics
from infra.constructs import functions as fn
from inlet import keys
from inlet.dns import budget
from tests.infra.cfn import flatten, grants, one, resources
from tests.infra.conftest import REPO_ROOT, Synth

pytestmark = pytest.mark.infra

SPECS = {"Parse": fn.PARSE, "Index": fn.INDEX, "Retention": fn.RETENTION}
ALL_PREFIXES = (
    keys.RAW_PREFIX,
    keys.ENVELOPE_PREFIX,
    keys.PARSED_PREFIX,
    keys.ATTACHMENTS_PREFIX,
    keys.QUARANTINE_PREFIX,
)


def functions(synth: Synth) -> dict[str, tuple[str, dict[str, Any]]]:
    """Inlet's functions by name (Parse, Index, Retention): (logical id, properties)."""
    found = {}
    for logical_id, resource in resources(
        synth.template_json(synth.pipeline), "AWS::Lambda::Function"
    ).items():
        for name in SPECS:
            if logical_id.startswith(f"Functions{name}") and "Role" not in logical_id:
                found[name] = (logical_id, resource["Properties"])
    assert set(found) == set(SPECS)
    return found


def role_of(props: dict[str, Any]) -> str:
    return flatten(props["Role"]).strip("<>").removesuffix(".Arn")


def test_runtime_architecture_handler_and_no_layer(env_synth: Synth) -> None:
    for name, (_, props) in functions(env_synth).items():
        spec = SPECS[name]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == spec.handler
        assert props["MemorySize"] == spec.memory_mib
        assert props["Timeout"] == spec.timeout.to_seconds()
        # Self-contained: every dependency is in the asset, nothing from a public layer.
        assert "Layers" not in props
    assert SPECS["Parse"].memory_mib == 1024


def code_package(synth: Synth) -> Path:
    """The functions' code asset as synth staged it in the cloud assembly."""
    files = synth.assets(synth.pipeline)["files"]
    (code,) = [f for f in files.values() if f["displayName"].startswith("Functions/")]
    return synth.outdir / code["source"]["path"]


EM_AARCH64 = 183


def elf_machine(path: Path) -> int:
    """e_machine of a 64-bit little-endian ELF file (what the arm64 Lambda can load)."""
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    assert header[4:6] == b"\x02\x01", path  # ELFCLASS64, ELFDATA2LSB
    (machine,) = struct.unpack_from("<H", header, 18)
    return int(machine)


def test_handlers_exist_in_the_code_package(env_synth: Synth) -> None:
    package = code_package(env_synth)
    # The core, the handlers and their pinned dependencies: no tests, no virtualenv, no CDK
    # output, no dotfiles, no byte-code compiled for the host's Python.
    pinned = {
        line.split("==")[0].replace("-", "_").lower()
        for line in (REPO_ROOT / "functions" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    names = {p.name for p in package.iterdir()}
    modules = {n for n in names if not n.endswith(".dist-info")}
    assert {"functions", "inlet", "aws_lambda_powertools", "jmespath"} <= modules
    assert modules <= {
        "functions",
        "inlet",
        "aws_lambda_powertools",
        "jmespath",
        "typing_extensions.py",
        "spf.py",
        "dkim",
        "dns",
        "publicsuffixlist",
        "nacl",
        "cffi",
        "_cffi_backend.cpython-313-aarch64-linux-gnu.so",
        # The packages' scripts and dkimpy's man pages: pip --target keeps them, nothing runs them.
        "bin",
        "share",
    }
    installed = {n.split("-")[0].lower() for n in names if n.endswith(".dist-info")}
    assert installed == pinned
    assert not {"tests", ".venv", "cdk.out", "node_modules", "infra", "relay"} & names
    assert not list(package.rglob("__pycache__"))
    assert not list(package.rglob("*.pyc"))
    for spec in SPECS.values():
        module = spec.handler.rsplit(".", 1)[0]
        assert (package / (module.replace(".", "/") + ".py")).is_file(), module


def test_code_package_has_the_verdict_libraries_for_arm64(env_synth: Synth) -> None:
    package = code_package(env_synth)
    # pyspf and dkimpy: built from their sdists by `make function-wheels`.
    for module in ("spf.py", "dkim/__init__.py", "dns/resolver.py"):
        assert (package / module).is_file(), module
    # publicsuffixlist reads the list from its package, not from the network.
    assert (package / "publicsuffixlist" / "public_suffix_list.dat").stat().st_size > 100_000
    # The native code: built for the Lambda's arm64 and its CPython 3.13, not for this host.
    sodium = package / "nacl" / "_sodium.abi3.so"
    backend = package / "_cffi_backend.cpython-313-aarch64-linux-gnu.so"
    assert elf_machine(sodium) == EM_AARCH64
    assert elf_machine(backend) == EM_AARCH64
    assert [p.name for p in package.glob("_cffi_backend*")] == [backend.name]
    native = {p.relative_to(package).as_posix() for p in package.rglob("*.so")}
    assert native == {"nacl/_sodium.abi3.so", backend.name}


def test_environment_and_reserved_concurrency(env_synth: Synth) -> None:
    config = env_synth.config
    reserved = {
        "Parse": config.parse_reserved_concurrency,
        "Index": config.index_reserved_concurrency,
        "Retention": config.retention_reserved_concurrency,
    }
    for name, (_, props) in functions(env_synth).items():
        env = props["Environment"]["Variables"]
        assert flatten(env["INLET_BUCKET"]).startswith("<output:PublishOutputRefMessageBucket")
        assert flatten(env["INLET_TABLE"]).startswith("<output:PublishOutputRefIndexTable")
        assert env["INLET_RETENTION_DAYS"] == str(config.retention_days)
        assert env["INLET_RETENTION_OVERRIDES"] == config.retention_overrides_value
        assert env["POWERTOOLS_SERVICE_NAME"] == SPECS[name].service
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == metrics.NAMESPACE
        assert props["ReservedConcurrentExecutions"] == reserved[name]


def test_reserved_concurrency_differs_per_environment(staging: Synth, production: Synth) -> None:
    parse = {
        s.config.name: functions(s)["Parse"][1]["ReservedConcurrentExecutions"]
        for s in (staging, production)
    }
    assert parse == {"staging": 5, "production": 50}


def test_sqs_event_sources_report_batch_item_failures(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    by_function = {
        flatten(m["Properties"]["FunctionName"]).strip("<>"): m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
    }
    found = functions(env_synth)
    expected = {
        "Parse": ("ParseQueueArn", fn.PARSE_BATCH_SIZE),
        "Index": ("IndexQueueArn", fn.INDEX_BATCH_SIZE),
    }
    assert set(by_function) == {found[name][0] for name in expected}
    for name, (queue, batch) in expected.items():
        mapping = by_function[found[name][0]]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BatchSize"] == batch
        assert queue in flatten(mapping["EventSourceArn"])
        # No more pollers than the function may run (throttled receives would end in the DLQ).
        reserved = found[name][1]["ReservedConcurrentExecutions"]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": reserved}


def test_retention_runs_on_the_configured_schedule(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    rule = one(template, "AWS::Events::Rule")["Properties"]
    assert rule["ScheduleExpression"] == env_synth.config.retention_schedule
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert flatten(target["Arn"]) == f"<{functions(env_synth)['Retention'][0]}.Arn>"
    assert target["Input"] == '{"dry_run":false}'
    permission = [
        p["Properties"]
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert len(permission) == 1


def s3_grants(template: dict[str, Any], role: str, bucket: str) -> dict[str, set[str]]:
    """S3 action → the prefixes (or `bucket`) it is granted on."""
    found: dict[str, set[str]] = {}
    for action, resource in grants(template, role):
        if not action.startswith("s3:"):
            continue
        where = (
            "bucket"
            if resource == bucket
            else resource.removeprefix(f"{bucket}/").removesuffix("*")
        )
        found.setdefault(action, set()).add(where)
    return found


def test_roles_are_least_privilege(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    bucket = f"<import:{env_synth.config.stack_prefix}-MessageBucketArn>"
    roles = {name: role_of(props) for name, (_, props) in functions(env_synth).items()}
    assert s3_grants(template, roles["Parse"], bucket) == {
        "s3:GetObject": {keys.RAW_PREFIX, keys.ENVELOPE_PREFIX},
        "s3:PutObject": {keys.PARSED_PREFIX, keys.ATTACHMENTS_PREFIX, keys.QUARANTINE_PREFIX},
        "s3:AbortMultipartUpload": {
            keys.PARSED_PREFIX,
            keys.ATTACHMENTS_PREFIX,
            keys.QUARANTINE_PREFIX,
        },
        "s3:ListBucket": {"bucket"},
    }
    assert s3_grants(template, roles["Index"], bucket) == {
        "s3:GetObject": {keys.PARSED_PREFIX},
        "s3:ListBucket": {"bucket"},
    }
    assert s3_grants(template, roles["Retention"], bucket) == {
        "s3:GetObject": set(ALL_PREFIXES),
        "s3:DeleteObject": set(ALL_PREFIXES),
        "s3:ListBucket": {"bucket"},
    }
    table_actions = {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    }
    for name, role in roles.items():
        granted = grants(template, role)
        dynamodb = {a for a, r in granted if a.startswith("dynamodb:")}
        assert dynamodb == (set() if name == "Parse" else table_actions), name
        assert all("IndexTableArn" in r for a, r in granted if a.startswith("dynamodb:"))
        kms = {a for a, _ in granted if a.startswith("kms:")}
        assert kms == (
            {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
            if name == "Parse"
            else {"kms:Decrypt"}
        )
        assert not any(a.endswith("*") for a, _ in granted), name
        properties = template["Resources"][role]["Properties"]
        assert "ManagedPolicyArns" not in properties
        assert "Policies" not in properties
    for name in ("Parse", "Index"):
        sqs = {a for a, _ in grants(template, roles[name]) if a.startswith("sqs:")}
        assert "sqs:DeleteMessage" in sqs
        assert "sqs:ReceiveMessage" in sqs
        assert not any(a.startswith("sqs:") for a, _ in grants(template, roles["Retention"]))


def test_each_function_logs_to_its_own_group(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    for _, props in functions(env_synth).values():
        group = flatten(props["LoggingConfig"]["LogGroup"]).strip("<>")
        assert template["Resources"][group]["Properties"]["RetentionInDays"] == (
            env_synth.config.log_retention_days
        )
        assert ("logs:PutLogEvents", f"<{group}.Arn>") in grants(template, role_of(props))


def test_a_batch_waiting_out_every_dns_budget_still_ends_in_time() -> None:
    # Each message may wait up to the DNS budget for its verdicts; a whole batch of them must
    # leave the parse function at least half its timeout for the parsing itself.
    worst_dns = fn.PARSE_BATCH_SIZE * budget.TOTAL_SECONDS
    assert worst_dns <= fn.PARSE.timeout.to_seconds() / 2
