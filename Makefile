# Every target installs into .venv first if needed (the install re-runs when pyproject.toml changes).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install train lint test test-fast bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,export,serve]'
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/aimodel train configs/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check aimodel tests benchmarks

# Everything but the `slow` tests, after the linter: first every test that neither times itself nor starts
# a cluster, spread over TEST_WORKERS processes (pytest-xdist, whole files per process, so module fixtures
# are built once); then the `timing` and `distributed` tiers alone, so no other test shares their cores.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow and not timing and not distributed"
	$(BIN)/python -m pytest -m "(timing or distributed) and not slow"

# The in-process tiers only: no processes started, no workers, no export, no server, no stopwatch.
FAST := not slow and not subprocess and not distributed and not export and not serve and not timing
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "$(FAST)"

# aimodel versus plain Keras, side by side (5–11 minutes on 2 cores; the export figures 7a-7e add about 2,
# reusing figure 3's run), aimodel serve under load (figure 8, about 3 more) and the tabular template against
# logistic regression on 3 real tables, 3 seeds (figures 13a-13c, group tables, about 5.5 more), regression,
# forecasting and multilabel against their baselines (figures 14a-14c, group tasks, about 2 more); writes
# benchmarks/results.md and benchmarks/serve_results.md.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache
