# Two commands on a fresh machine: `make demo` and `make test`. Both create the
# virtual environment when it is missing and reinstall when pyproject changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# The suite runs on every core (pytest-xdist; tests/conftest.py groups them).
TEST_WORKERS ?= auto
CHAOS_TRIALS ?= 200

.PHONY: install demo test test-fast chaos lint format bench bench-large clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cobridge demo

test: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The inner loop: unit and contract tests, no system (tests/system/) or slow ones.
test-fast: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup -m "not system and not slow" $(PYTEST_ARGS)

# kill -9 of the connector at many more random points than `make test` tries (20).
chaos: $(STAMP)
	COBRIDGE_CHAOS_TRIALS=$(CHAOS_TRIALS) $(BIN)/pytest -s tests/system/connector/test_kill9.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench

bench-large: $(STAMP)
	$(BIN)/python -m bench --large

clean:
	rm -rf $(VENV) data build *.egg-info .pytest_cache .ruff_cache test-output
