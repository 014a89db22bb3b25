SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.dev-installed
SOURCES := pyproject.toml scripts/install.sh

.PHONY: help install install-dev run test lint bench clean

help:
	@echo "make run     install into $(VENV) and start the server on http://127.0.0.1:8000"
	@echo "make test    install dev dependencies, lint, type-check and run the test suite"
	@echo "make bench   run the benchmarks (results in bench/results/)"

$(INSTALLED): $(SOURCES)
	VENV=$(VENV) scripts/install.sh
	@touch $@

$(DEV_INSTALLED): $(INSTALLED) $(SOURCES)
	VENV=$(VENV) scripts/install.sh dev
	@touch $@

install: $(INSTALLED)

install-dev: $(DEV_INSTALLED)

run: install
	$(VENV)/bin/uait serve

lint: install-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	@$(PY) scripts/check_module_size.py src/universal_ai_tools 600

test: lint
	@rc=0; $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

bench: install-dev
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
