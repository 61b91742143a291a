# Every target sets itself up: a fresh machine needs only Python (pyenv's 3.13 when present) and PyPI.
PYENV_313 := $(shell pyenv prefix 3.13.0 2>/dev/null)/bin/python3.13
PYTHON ?= $(if $(wildcard $(PYENV_313)),$(PYENV_313),python3)
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
RUN := $(VENV)/bin

.PHONY: setup demo test lint unit integration build bench deploy clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	touch $@

setup: $(VENV)/.synced

demo: setup
	$(RUN)/python -m emulation.demo

lint: setup
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	$(RUN)/mypy

unit: setup
	$(RUN)/pytest tests/unit -q

integration: setup
	$(RUN)/pytest tests/integration -q

test: lint
	$(RUN)/pytest -q

bench: setup
	$(RUN)/python -m bench

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache demo-output
