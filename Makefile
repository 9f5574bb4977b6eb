# The two commands of the README: `make demo` and `make test`. Both set up .venv first:
# the demo installs the runtime only, the tests the whole development toolchain.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install install-dev

$(BIN)/python:
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(BIN)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(BIN)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(BIN)/.installed-runtime

install: $(BIN)/.installed-runtime

install-dev: $(BIN)/.installed-dev

demo: install
	$(BIN)/forwardpass demo

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest
