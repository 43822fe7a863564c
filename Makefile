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

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .mypy_cache
