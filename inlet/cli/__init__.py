"""The entry points: argument parsing (`main`), wiring adapters from settings (`wiring`), the
long-running processes `inlet up` and `inlet relay` (`serve`), the commands that read and manage
stored mail (`commands`) and the local pipeline runner (`local_runner`).

This is the top of the core package and the only part of it that may import relay/. Nothing is
imported here, so the Lambdas can use `inlet.cli.wiring` without the relay's dependencies.
"""
