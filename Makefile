# The project's commands. Every target creates .venv first when it is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime's Python: pyenv's 3.13 where the machine has it, else python3.13, else python3.
PYTHON_BOOT ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null) $(shell command -v python3))
VENV := .venv
PY := $(VENV)/bin/python
SAM := $(VENV)/sam/bin/sam
STAMP := $(VENV)/.installed
SAM_STAMP := $(VENV)/sam/.installed
CHECKOV_STAMP := $(VENV)/checkov/.installed
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/common

.PHONY: help venv run test test-unit test-integration test-e2e lint bench load demo build clean fuzz

help:
	@echo "make run    - the whole pipeline locally (API :3000, SMTP :2525, AWS emulation :4566)"
	@echo "make test   - every test suite (unit, integration with moto, e2e on a local stack)"
	@echo "make lint   - ruff, mypy, cfn-lint, sam validate --lint, checkov, sam build"
	@echo "make bench  - benchmarks (figures go in BENCHMARKS.md)"
	@echo "make load   - soak: 50,000 mixed requests and a mail burst on a fresh local stack (figures in BENCHMARKS.md)"
	@echo "make demo   - against a running 'make run': tickets, an urgent email and its page"
	@echo "make fuzz   - the API fuzzer (schemathesis) and hostile MIME with many more examples"

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(SAM_STAMP): requirements-sam.txt
	@test -x $(VENV)/sam/bin/python || $(PYTHON_BOOT) -m venv $(VENV)/sam
	$(VENV)/sam/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(VENV)/checkov/bin/python || $(PYTHON_BOOT) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m local

test: $(STAMP)
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

test-e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

lint: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/common/support_common functions local bench
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint
	$(VENV)/checkov/bin/checkov --config-file .checkov.yaml -f template.yaml
	$(MAKE) build

# sam build needs python3.13 on PATH for Runtime: python3.13; it fetches arm64 wheels itself.
build: $(SAM_STAMP)
	PATH="$(dir $(PYTHON_BOOT)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM) build --parallel

bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# The API fuzzer with many more examples per operation than make test's bounded run.
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(PY) -m pytest tests/e2e/test_api_fuzz.py tests/unit/test_mail_hostile.py

# Not in `make test`: about an hour on a 2-core machine. The bounded version is tests/e2e/test_local_soak.py.
load: $(STAMP)
	$(PY) -m local.soak --requests 50000 --clients 4 --mail 500 --windows 10

demo: $(STAMP)
	$(PY) -m local.demo

clean:
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
