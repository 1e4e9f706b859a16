# `make demo`: set up .venv and run the quickstart league.  `make test`: set up and run the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export SDL_VIDEODRIVER ?= dummy
export RAY_DEDUP_LOGS ?= 0

.PHONY: demo test lint format bench clean

$(STAMP): setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools
	# CPU build of torch first (an unpinned torch pulls several GB of CUDA packages).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,judge,sumo]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/league start configs/quickstart.yaml --run-dir runs/quickstart --seed 0

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs build *.egg-info
	find metagame tests -name __pycache__ -prune -exec rm -rf {} +  # with the Numba caches
