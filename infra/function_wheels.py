"""The functions' runtime dependencies as wheels for the Lambda platform (stdlib only, so
`make function-wheels` runs it without loading the CDK).

`python -m infra.function_wheels` fills .build/function-wheels from functions/requirements.txt:
manylinux, arm64, CPython 3.13 binary wheels from the index, and, for the pins marked
`# sdist-only` (published without wheels), wheels built here from their sdists, which must be
pure Python. It is the one step that needs the package index; synthesis then installs from that
directory, offline.
"""

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "functions" / "requirements.txt"
WHEELS = REPO_ROOT / ".build" / "function-wheels"
# The Lambda runtime the wheels are for: infra/constructs/functions.py deploys python3.13 on arm64.
PLATFORM = ("--platform", "manylinux2014_aarch64", "--python-version", "3.13")
# The comment (`pin  # sdist-only`) that marks a pin of requirements.txt as published without
# wheels: the one place that says which packages are built here.
SOURCE_MARKER = "sdist-only"
# Tags of a wheel that runs on any CPython 3: a wheel built on this host with any other tag
# carries the host's native code (x86_64, its Python), which the arm64 Lambda cannot load.
PURE_TAGS = {("py3", "none", "any"), ("py2.py3", "none", "any")}
_PIP = (sys.executable, "-m", "pip")
_COMMON = ("--quiet", "--no-deps", "--only-binary=:all:", *PLATFORM)


class ImpureWheelError(RuntimeError):
    pass


def pins(requirements: Path = REQUIREMENTS) -> tuple[list[str], list[str]]:
    """The pins of `requirements`, without their comments: (with wheels, sdist-only)."""
    binary: list[str] = []
    source: list[str] = []
    for line in requirements.read_text().splitlines():
        # pip's rule: a comment starts the line or follows whitespace.
        requirement, *comment = re.split(r"(?:^|\s+)#", line, maxsplit=1)
        if not requirement.strip():
            continue
        sdist_only = bool(comment) and comment[0].strip() == SOURCE_MARKER
        (source if sdist_only else binary).append(requirement.strip())
    return binary, source


def wheel_tags(wheel: Path) -> tuple[str, str, str]:
    """(python, abi, platform): the last three fields of a wheel's file name (PEP 427)."""
    python, abi, platform = wheel.name.removesuffix(".whl").split("-")[-3:]
    return python, abi, platform


def check_pure(wheel: Path) -> None:
    tags = wheel_tags(wheel)
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/WHEEL"))
        purelib = "Root-Is-Purelib: true" in archive.read(metadata).decode()
    if tags not in PURE_TAGS or not purelib:
        raise ImpureWheelError(
            f"{wheel.name}, built from its sdist, is not pure Python (tags {'-'.join(tags)}, "
            f"Root-Is-Purelib {str(purelib).lower()}): a wheel built on this host cannot go "
            "into the arm64 Lambda; pin a version with a manylinux aarch64 cp313 wheel instead"
        )


def build_from_source(requirements: list[str], dest: Path) -> list[Path]:
    """Build pure wheels of `requirements` from their sdists into `dest`; the built wheels."""
    names = [re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0] for r in requirements]
    with tempfile.TemporaryDirectory() as scratch:
        built = Path(scratch)
        command = [
            *_PIP, "wheel", "--quiet", "--no-deps", "--no-binary", ",".join(names),
            "--wheel-dir", str(built), *requirements,
        ]  # fmt: skip
        subprocess.run(command, check=True)  # noqa: S603 - our own interpreter, fixed arguments
        wheels = sorted(built.glob("*.whl"))
        if len(wheels) != len(requirements):
            raise RuntimeError(
                f"building {requirements} gave {[w.name for w in wheels]}: one wheel each expected"
            )
        # Checked before any is moved, so an impure wheel never reaches `dest`.
        for wheel in wheels:
            check_pure(wheel)
        return [Path(shutil.move(wheel, dest / wheel.name)) for wheel in wheels]


def download() -> None:
    shutil.rmtree(WHEELS, ignore_errors=True)
    WHEELS.mkdir(parents=True)
    binary, source = pins()
    try:
        command = [*_PIP, "download", *_COMMON, "--dest", str(WHEELS), *binary]
        subprocess.run(command, check=True)  # noqa: S603 - our own interpreter, fixed arguments
        if source:
            build_from_source(source, WHEELS)
    except BaseException:
        # No partial directory for synthesis to install from: it asks for this step again.
        shutil.rmtree(WHEELS, ignore_errors=True)
        raise


def install(target: Path) -> None:
    """Install the pinned dependencies into `target` from the downloaded wheels, offline."""
    if not WHEELS.is_dir():
        raise RuntimeError(
            f"no function wheels in {WHEELS}: run `make function-wheels` (`make test` and "
            "`make synth` do) first"
        )
    command = [
        *_PIP, "install", *_COMMON, "--no-index", "--no-compile", "--find-links", str(WHEELS),
        "--target", str(target), "-r", str(REQUIREMENTS),
    ]  # fmt: skip
    subprocess.run(command, check=True)  # noqa: S603 - our own interpreter, fixed arguments


if __name__ == "__main__":
    try:
        download()
    except ImpureWheelError as error:
        sys.exit(f"function-wheels: {error}")
