# Set-up is part of every target: a fresh clone needs only `make train` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup train test lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install-torch.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PIP="$(BIN)/python -m pip" sh scripts/install-torch.sh
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

train: setup  ## simulate (cached) -> train the cpu preset -> evaluate on held-out patients
	$(BIN)/abrnet train $(ARGS)

test: setup lint  ## lint, format check and the whole test suite
	$(BIN)/python -m pytest -q $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
