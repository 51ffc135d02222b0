# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATASET := examples/ibm_accounts_receivable_late_payments.csv

.PHONY: demo test up lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cobranza simulate $(DATASET) --report-json report.json --report-html report.html

test: $(STAMP)
	$(BIN)/pytest -q

up: $(STAMP)
	$(BIN)/cobranza up --load $(DATASET)

lint: $(STAMP)
	$(BIN)/ruff check cobranza tests bench
	$(BIN)/ruff format --check cobranza tests bench

typecheck: $(STAMP)
	$(BIN)/mypy cobranza

bench: $(STAMP)
	$(BIN)/python bench/lifecycle_throughput.py

clean:
	rm -rf $(VENV) .cobranza report.json report.html
