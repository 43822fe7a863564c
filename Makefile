# The two commands the README starts with: `make run` and `make test`.
# Both create the virtualenv and install everything from PyPI on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint package bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m local

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy chalicelib

test: $(STAMP) lint
	$(PY) -m pytest

# Throughput, AWS calls per message, cold start, render cost, memory: prints the README's table.
# SIZES="1000,10000,100000" for the full run (moto's server makes 100k take hours; see the README).
SIZES ?= 1000,10000
bench: $(STAMP)
	PYTHONPATH=. $(PY) -m bench --sizes $(SIZES)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .mypy_cache
