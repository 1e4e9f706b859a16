# `make demo`: set up .venv and run the quickstart league.  `make test`: set up and run the tests.
# Set-up installs the exact versions in constraints.txt (the lock); `make lock` refreshes it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := constraints.txt
EXTRAS := test,judge,sumo,lm
export SDL_VIDEODRIVER ?= dummy
export RAY_DEDUP_LOGS ?= 0

.PHONY: demo test test-fast lint format bench clean lock lock-check

$(STAMP): setup.py Makefile $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c $(LOCK) --upgrade pip wheel setuptools
	# CPU build of torch first (an unpinned torch pulls several GB of CUDA packages).
	$(BIN)/pip install -q -c $(LOCK) torch==2.13.0
	$(BIN)/pip install -q -c $(LOCK) -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/league start configs/quickstart.yaml --run-dir runs/quickstart --seed 0

# Two pytest workers, one test file each at a time (a file's module fixtures run once).
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900 --durations=25 -n 2 --dist loadfile

# The edit loop: everything but the tests marked slow (RLlib training, league runs, the README).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900 -n 2 --dist loadfile -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

# Resolve the newest versions setup.py allows, in a scratch venv, and write them to the lock.
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install -q --upgrade pip wheel setuptools
	build/lock-venv/bin/pip install -q torch==2.13.0
	build/lock-venv/bin/pip install -q ".[$(EXTRAS)]"
	{ echo "# The lock: exact versions for make's set-up. Written by 'make lock'; do not edit."; \
	  build/lock-venv/bin/pip freeze --all | grep -v -i '^metagame' | sed 's/+cpu$$//'; } > $(LOCK)
	rm -rf build/lock-venv

# The lock still resolves against the registry (a dry run: nothing is installed).
lock-check: $(STAMP)
	$(BIN)/pip install -q --dry-run --ignore-installed -c $(LOCK) torch==2.13.0 ".[$(EXTRAS)]"

clean:
	rm -rf $(VENV) runs build *.egg-info
	find metagame tests -name __pycache__ -prune -exec rm -rf {} +  # with the Numba caches
