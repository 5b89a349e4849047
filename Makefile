# One-command entry points. Each works on a fresh machine: it creates .venv and installs first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= sample_data/out
STORE  ?= data/demo.gpkg
# two test processes, one test file each at a time (module fixtures stay in one process)
XDIST  ?= -n 2 --dist loadfile

.PHONY: install test test-reliability test-all lint format demo demo-data serve bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its dev tools

test: $(STAMP)  ## lint and type-check, then the default test suite (real-data tests skip without ../shared)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -m "not slow" --doctest-modules profiling geo_service tests $(XDIST)

test-reliability: $(STAMP)  ## the slow half of tests/reliability: hostile corpus over HTTP, every kill point
	$(BIN)/python -m pytest -q -m slow tests/reliability $(XDIST)

test-all: $(STAMP)  ## every test, slow ones included
	$(BIN)/python -m pytest -q --doctest-modules profiling geo_service tests $(XDIST)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo-data: $(STAMP)  ## generate the synthetic demo city
	$(BIN)/python -m sample_data.generate --out $(DEMO)

demo: $(STAMP)  ## build, validate, ingest and publish the demo city, print key indicators, serve it (Ctrl+C stops)
	$(BIN)/geo-service demo --out $(DEMO) --store $(STORE) --serve

serve: $(STAMP)  ## serve the HTTP API on the demo store (run make demo first)
	$(BIN)/geo-service serve --store $(STORE)

docs: $(STAMP)  ## regenerate the README's indicator definitions from the registries
	$(BIN)/python -c 'from pathlib import Path; from profiling.indicators.catalogue import write_readme; write_readme(Path("README.md"))'

bench: $(STAMP)  ## benchmarks (not tests), each against its peer; prints times and ratios
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) data sample_data/out benchmarks/out .pytest_cache .ruff_cache
