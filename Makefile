# Set-up is part of every target: a fresh clone needs only `make train` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup browser train test lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install-torch.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PIP="$(BIN)/python -m pip" sh scripts/install-torch.sh
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

# Headless Chromium + chromedriver for the viewer's browser test: installed with apt-get when missing and possible
# (root or sudo on Debian/Ubuntu); otherwise that one test skips and says why. `.ci/run` installs them strictly.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" -eq 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "note: chromium/chromedriver not installed and no root: the viewer's browser test will skip"; fi

train: setup  ## simulate (cached) -> train the cpu preset -> evaluate on held-out patients
	$(BIN)/abrnet train $(ARGS)

# The suite runs a worker per logical CPU (pytest-xdist; each worker's torch uses one thread, tests/conftest.py), a
# file's tests on one worker, so a module's fixtures are made once. `-n logical`, not `auto`: with psutil installed
# `auto` counts physical cores, one on a 2-vCPU machine with hyper-threads.
test: setup browser lint  ## lint, format check and the whole test suite
	$(BIN)/python -m pytest -q -n logical --dist loadfile $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Deliberate regeneration of the committed results that need no trained run: --force replaces them (a bare script
# refuses to). The others read a checkpoint (--checkpoint runs/<run>/best.ckpt) or a trained run (baselines: --run,
# default runs/default, which a fresh clone lacks) or runs given as arguments; each results table names its command.
BENCH_STANDALONE = simulate model import_speed microphonic_ceiling polarity_check signal_quality slow_trend dc_offset \
	profile_step train
bench: setup
	for b in $(BENCH_STANDALONE); do $(BIN)/python benchmarks/$$b.py --force || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
