"""The functions' code asset, self-contained: inlet/ and functions/ plus their pinned runtime
dependencies (functions/requirements.txt), bundled at synth on the host, without Docker.

The dependencies are installed from wheels already on disk (infra/function_wheels.py: `make
function-wheels` downloads them for the Lambda platform), so synthesis makes no network call.
The same zip then runs on AWS and wherever else the template is deployed (no public layer to
resolve). A missing wheel directory fails the synthesis, saying what to run.
"""

import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra import function_wheels
from infra.constructs import REPO_ROOT

SOURCES = ("inlet", "functions")
# The fingerprint covers exactly what goes in: the sources, requirements.txt among them.
FINGERPRINT_EXCLUDE = [
    "*",
    ".*",
    *(pattern for name in SOURCES for pattern in (f"!{name}", f"!{name}/**")),
    "**/__pycache__",
    "**/*.pyc",
]


def bundle(output_dir: Path) -> None:
    """Lay out the asset in `output_dir`: the sources, then the dependencies from the wheels."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        shutil.copytree(REPO_ROOT / name, output_dir / name, ignore=ignore, dirs_exist_ok=True)
    function_wheels.install(output_dir)


@jsii.implements(ILocalBundling)
class _OnThisHost:
    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        bundle(Path(output_dir))
        return True


def function_code() -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(REPO_ROOT),
        exclude=FINGERPRINT_EXCLUDE,
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds or fails the synthesis.
            image=DockerImage.from_registry("unused-local-bundling-only"),
            local=_OnThisHost(),
        ),
    )
