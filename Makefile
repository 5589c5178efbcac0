# `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test validate clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kam validate
	@# eight weekly runs before this one, with steps done between them, in the demo's store
	@# (.kam/state.sqlite): what `kam outcomes` and the report's Outcomes section show
	$(BIN)/python examples/weekly/build_history.py --store .kam/state.sqlite
	$(BIN)/kam evaluate examples/accounts.csv --out out/demo --as-of 2026-11-23
	@echo "open out/demo/plans/ for the action plans, out/demo/summary.md for the run,"
	@echo "out/demo/calendar/ and out/demo/tasks.csv for the steps; 'kam outcomes' for what became of the plans"
	@echo "kam is in $(VENV)/bin/: 'source $(VENV)/bin/activate' (or export PATH=\"$(CURDIR)/$(BIN):\$$PATH\") puts it on your PATH"

# static checks first (seconds), then the tests (minutes); ruff and mypy read pyproject.toml
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out build *.egg-info
