# Every target sets itself up: a fresh machine needs python3 (3.11-3.13), Node 20 with npm (the
# pinned CDK CLI for `make test` and `make synth`) and, for the
# benchmark, the Debian packages listed in APT_PACKAGES.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := postfix swaks

NODE_STAMP := node_modules/.installed
# The functions' runtime dependencies as Lambda-platform wheels, bundled into their asset at synth.
WHEELS_STAMP := .build/function-wheels/.downloaded
CDK := node_modules/.bin/cdk
ENV ?= staging

.PHONY: up test lint fmt typecheck unit fuzz bench bench-deps bench-memory bench-verdicts synth \
	function-wheels localstack localstack-stop localstack-venvs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The CDK CLI, pinned in package.json / package-lock.json (needs Node 18+ and npm).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# The only step of the CDK app that needs the package index (synthesis itself is offline).
$(WHEELS_STAMP): functions/requirements.txt infra/function_wheels.py $(STAMP)
	$(BIN)/python -m infra.function_wheels
	touch $(WHEELS_STAMP)

function-wheels: $(WHEELS_STAMP)

up: $(STAMP)
	$(BIN)/inlet up

test: $(STAMP) $(NODE_STAMP) $(WHEELS_STAMP) localstack-venvs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m unit

# Longer fuzzing than `make test` (tests/fuzz): random examples, each fuzz test for FUZZ_SECONDS
# (or FUZZ_EXAMPLES, whichever first); a failure prints the @reproduce_failure blob that replays it.
FUZZ_SECONDS ?= 120
FUZZ_EXAMPLES ?= 1000000
fuzz: $(STAMP)
	INLET_FUZZ_SECONDS=$(FUZZ_SECONDS) INLET_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	  $(BIN)/pytest tests/fuzz -p no:cacheprovider --timeout=$$(( $(FUZZ_SECONDS) + 300 ))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

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

# Peak RSS under concurrent large messages, idle sessions, and stalled senders (docs/performance.md).
bench-memory: $(STAMP)
	$(BIN)/python bench/relay_memory.py

# The verdicts' CPU per message (SPF, DKIM, DMARC, ARC) against a DNS server on 127.0.0.1.
bench-verdicts: $(STAMP)
	$(BIN)/python bench/verdicts_bench.py

# Offline: no AWS credentials and no Docker are needed (see docs/deploy.md).
synth: $(STAMP) $(NODE_STAMP) $(WHEELS_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) synth --context env=$(ENV)

# The LocalStack tier (docs/testing.md). Its own Python 3.13 venvs (LocalStack with the project's
# plugin, and the Lambda runtime's boto3) are built on first use and when their pins change.
localstack-venvs: $(STAMP)
	$(BIN)/python -m tests.localstack.tier venvs

# LocalStack on 127.0.0.1:4566 (or the one at LOCALSTACK_ENDPOINT) with both stacks of ENV
# deployed from cdk.out, and .localstack/inlet.env for `inlet relay` and the CLI.
localstack: synth localstack-venvs
	$(BIN)/python -m tests.localstack.tier up

localstack-stop: $(STAMP)
	$(BIN)/python -m tests.localstack.tier down

clean:
	rm -rf $(VENV) node_modules .build .localstack .mypy_cache .pytest_cache .ruff_cache
