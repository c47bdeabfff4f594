"""The functions' runtime dependencies as wheels for the Lambda platform (stdlib only, so
`make function-wheels` runs it without loading the CDK).

`python -m infra.function_wheels` downloads the wheels of functions/requirements.txt into
.build/function-wheels: manylinux, arm64, CPython 3.13, binary wheels only. It is the one step
that needs the package index; synthesis then installs from that directory, offline.
"""

import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "functions" / "requirements.txt"
WHEELS = REPO_ROOT / ".build" / "function-wheels"
# The Lambda runtime the wheels are for: infra/constructs/functions.py deploys python3.13 on arm64.
PLATFORM = ("--platform", "manylinux2014_aarch64", "--python-version", "3.13")
_PIP = (sys.executable, "-m", "pip")
_COMMON = ("--quiet", "--no-deps", "--only-binary=:all:", *PLATFORM)


def download() -> None:
    shutil.rmtree(WHEELS, ignore_errors=True)
    command = [*_PIP, "download", *_COMMON, "--dest", str(WHEELS), "-r", str(REQUIREMENTS)]
    subprocess.run(command, check=True)  # noqa: S603 - our own interpreter, fixed arguments


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
    download()
