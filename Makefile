# The README's two commands: `make demo` (install + train a small VAE on MNIST) and
# `make test` (install + run the test suite). Both create .venv and install torch==2.13.0
# (the local CPU wheel) before the project, so pip never pulls the CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Real MNIST / Fashion-MNIST live in ../shared/data in this repository's environment.
VAELAB_DATA ?= $(abspath ../shared/data)
export VAELAB_DATA

.PHONY: install demo test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: install
	$(BIN)/vaelab train --dataset mnist --epochs 5 --hidden 400 --latent-dim 20

test: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
