# mailer — developer tasks. The quickstart is `make demo` then `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MAILER := $(BIN)/mailer
STAMP := $(VENV)/.installed

.PHONY: demo test bench golden lint install clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: build the sample issue, import the example list and send it to the local outbox (no network)
demo: $(STAMP)
	$(BIN)/python -m mailer.demo

## test: the whole test suite (tests needing chromium/postgresql/node tools skip unless installed)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## bench: performance figures (printed, not asserted)
bench: $(STAMP)
	$(BIN)/python -m bench

## golden: regenerate golden files on purpose, then review the diff
golden: $(STAMP)
	MAILER_REGENERATE_GOLDEN=1 $(BIN)/python -m pytest -q tests -k golden

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf out outbox demo .pytest_cache .mypy_cache .ruff_cache
