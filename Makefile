# The two commands the README starts with: `make run` and `make test`.
# Both create the virtualenv and install everything from PyPI on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint package bench bench-prices load rehearse clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@echo "setup: a virtualenv in $(VENV) with the service's and the tests' libraries (first time: 2-4 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3 (it builds packages with pip)
	@echo "setup: installing chalice, boto3, moto, lxml, pydantic, jinja2, phonenumbers, pytest, ... (quiet)"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps .
	touch $(STAMP)

# Data is kept in .local-data/ between runs; FRESH=1 deletes it first and starts empty. ARGS passes options
# through, e.g. make run ARGS="--api-port 8100".
run: $(STAMP)
	$(PY) -m local $(if $(FRESH),--fresh) $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy --strict chalicelib
	$(PY) -m mypy app.py cli bench local rehearse tests

# The console's browser tests drive Debian's Chromium through its ChromeDriver (packages chromium, chromium-driver),
# installed here on first use: apt-get as root, or through sudo.
CHROMEDRIVER ?= /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMEDRIVER):
	@command -v apt-get >/dev/null || { echo "the browser tests need Debian's chromium and chromium-driver packages"; exit 1; }
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null

# The fast tier first (pure logic, no runtime: seconds) and stop on its failures; then everything that starts
# the local runtime (marked e2e by the fixture it uses).
test: $(STAMP) lint $(CHROMEDRIVER)
	$(PY) -m pytest -m "not e2e" -x
	$(PY) -m pytest -m e2e

# Throughput, AWS calls per message, cold start, render cost, memory: prints the README's table.
# SMS sizes stay small by default: moto's per-call cost grows with the items it stores (see the README).
SMS_SIZES ?= 1000,3000
SOAP_SIZES ?= 1000,10000,100000
# A burst through the whole local runtime with provider faults (not part of CI: ~25 minutes with the defaults).
load: $(STAMP)
	PYTHONPATH=. $(PY) -m bench.load $(LOAD_ARGS)

bench: $(STAMP)
	PYTHONPATH=. $(PY) -m bench --sms-sizes $(SMS_SIZES) --soap-sizes $(SOAP_SIZES) $(BENCH_ARGS)

# Only the priced run of `make bench` (dollars per million messages, write units by table and index).
bench-prices: $(STAMP)
	PYTHONPATH=. $(PY) -m bench --prices-only

# The deploy rehearsal: the README's "Deploying" block, as written, against ministack (IAM enforced), then the
# walkthrough through the emulated API Gateway. ministack and the AWS CLI get their own venvs under .rehearsal/.
rehearse: $(STAMP)
	$(PY) -m rehearse

clean:
	rm -rf $(VENV) .rehearsal build *.egg-info .pytest_cache .ruff_cache .mypy_cache .local-data-metrics.jsonl
