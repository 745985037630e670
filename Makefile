# Two entry points for a fresh machine: `make serve` and `make test`. Both create .venv on first use.
# `make serve` installs what serving needs and nothing more (ONNX Runtime, numpy, Pillow: no torch, no CUDA,
# no dev tools); `make test` adds the rest (the dev extra, training, torch).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The dev tools' oracle (grad-cam) needs torchvision; these two releases are installed together.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test lint typecheck pytest clean

$(BIN)/.created:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $@

$(BIN)/.serve-installed: pyproject.toml | $(BIN)/.created
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.installed: pyproject.toml | $(BIN)/.created
	$(BIN)/pip install --quiet -e ".[dev]" $(TORCH_PINS)
	touch $@

serve: $(BIN)/.serve-installed
	$(BIN)/python -m service --host $(HOST) --port $(PORT)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

pytest: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
