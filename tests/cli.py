"""Test helpers: the `inlet` command run in-process through `main([...])`, for commands whose
test gains nothing from a process of their own (real processes stay for `up`, drain, signals
and another terminal finding the data dir)."""

import io
import logging
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

from inlet.cli.main import main


@dataclass(frozen=True)
class Ran:
    returncode: int
    raw: bytes  # stdout as bytes (`show --raw` writes bytes)
    stderr: str

    @property
    def stdout(self) -> str:
        return self.raw.decode("utf-8")


def run_cli(*args: str) -> Ran:
    """`inlet ARGS` with stdout and stderr captured; the settings come from os.environ (use
    monkeypatch.setenv). The logging set-up the command does is undone afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out, err = io.BytesIO(), io.StringIO()
    text = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    try:
        with redirect_stdout(text), redirect_stderr(err):
            code = main(list(args))
            text.flush()
    finally:
        root.handlers[:], root.level = handlers, level
    return Ran(code, out.getvalue(), err.getvalue())
