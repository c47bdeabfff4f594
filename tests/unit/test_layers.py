"""The layers hold: every import in every module (lazy ones inside functions too) is read from
the source and checked against who may import whom."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]

# (modules under this package, packages they must not import). The CLI (inlet.cli) is the top
# of the core: the only part of inlet/ that may import relay/. infra/ may import anything.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("inlet", ("relay", "functions", "infra", "inlet.cli")),
    ("relay", ("functions", "infra", "inlet.cli")),
    ("functions", ("relay", "infra")),
)
# `python -m inlet` is an entry point, like the `inlet` script.
EXEMPT = ("inlet.cli", "inlet.__main__")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str) -> set[str]:
    """Every module `source` (the text of `module`) imports, absolute names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(module: str, names: set[str]) -> list[str]:
    found = []
    for package, forbidden in RULES:
        if not within(module, package) or any(within(module, e) for e in EXEMPT):
            continue
        found += [
            f"{module} imports {n}" for n in sorted(names) if any(within(n, f) for f in forbidden)
        ]
    return found


def test_no_layer_imports_a_layer_above_it() -> None:
    checked = 0
    found: list[str] = []
    for package, _ in RULES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            module = module_name(path)
            found += violations(module, imported(path.read_text(encoding="utf-8"), module))
            checked += 1
    assert checked > 40  # the walk really read the packages
    assert found == []


def test_the_cli_is_where_the_core_meets_the_relay() -> None:
    serve = REPO_ROOT / "inlet" / "cli" / "serve.py"
    assert "relay.server" in imported(serve.read_text(encoding="utf-8"), "inlet.cli.serve")


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "inlet.pipeline",
            "from relay.server import Relay",
            ["inlet.pipeline imports relay.server"],
        ),
        (
            "inlet.pipeline",
            "def f():\n    import functions.environment",
            ["inlet.pipeline imports functions.environment"],
        ),
        (
            "inlet.parsing.parts",
            "from ..cli import wiring",
            ["inlet.parsing.parts imports inlet.cli"],
        ),
        ("inlet.parsing.parts", "from . import bodies", []),
        (
            "relay.protocol",
            "from inlet.cli.wiring import open_adapters",
            ["relay.protocol imports inlet.cli.wiring"],
        ),
        ("relay.protocol", "from inlet.message_store import MessageStore", []),
        ("functions.environment", "from inlet.cli.wiring import open_adapters", []),
        ("functions.events", "import infra.config", ["functions.events imports infra.config"]),
        ("inlet.cli.serve", "from relay.server import Relay", []),
        ("inlet.blobstore.s3", "from .. import keys", []),
    ],
)
def test_the_checker_catches_what_it_should(module: str, source: str, expected: list[str]) -> None:
    assert violations(module, imported(source, module)) == expected
