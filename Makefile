# Every target sets itself up: a fresh machine needs only python3 (3.11-3.13) and, for the
# benchmark, the Debian packages listed in APT_PACKAGES.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := postfix swaks

.PHONY: up test lint typecheck unit bench bench-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/inlet up

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# smtp-source / smtp-sink come from Debian's postfix package; the install must not start the
# daemon, so policy-rc.d refusal is expected and harmless.
bench-deps:
	@command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES))

bench: $(STAMP) bench-deps
	$(BIN)/python bench/relay_bench.py
	$(BIN)/python bench/parse_bench.py
	$(BIN)/python bench/pipeline_latency.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
