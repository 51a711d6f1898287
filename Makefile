# Two commands for a fresh machine (see README.md):
#   make run    set up .venv and run the pipeline with config/config.yaml on this machine
#   make test   set up .venv and run the tests (and the workflow lint)
# Both create the project-local virtual environment .venv on first use and reuse it after.
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup run quick test lint clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,slurm,beyond]"
	@touch $(STAMP)

run: $(STAMP)
	PATH="$(BIN):$$PATH" snakemake --cores all $(SNAKEMAKE_ARGS)

quick: $(STAMP)
	PATH="$(BIN):$$PATH" snakemake --cores all --configfile config/quick.yaml $(SNAKEMAKE_ARGS)

test: $(STAMP)
	PATH="$(BIN):$$PATH" python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	PATH="$(BIN):$$PATH" snakemake --lint
	PATH="$(BIN):$$PATH" snakefmt --check Snakefile workflow
	PATH="$(BIN):$$PATH" ruff check src tests benchmarks
	PATH="$(BIN):$$PATH" PYTHONPATH=src lint-imports

clean-venv:
	rm -rf $(VENV)
