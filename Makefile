# mailer — developer tasks. The quickstart is `make demo` then `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MAILER := $(BIN)/mailer
STAMP := $(VENV)/.installed

.PHONY: demo test bench golden lint install bytecode clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

## bytecode: compile src/ ahead, as install does (pip does it for a normal install, not for an
## editable one): with PYTHONDONTWRITEBYTECODE set, every `mailer` run would otherwise compile
## mailer's own modules again (~60 ms of a build). Stale bytecode is never used (Python checks
## each source's mtime): a module edited since is compiled from source until `make bytecode`.
bytecode:
	$(BIN)/python -m compileall -q src

install: $(STAMP)

## demo: build the sample issue, import the example list and send it to the local outbox (no network)
DEMO_ENV := MAILER_DATABASE_URL=sqlite:///$(CURDIR)/demo/mailer.db MAILER_OUTBOX_DIR=$(CURDIR)/demo/outbox
demo: $(STAMP)
	rm -rf demo && mkdir -p demo
	$(MAILER) build issues/2018-03-iom-turkey.yaml -o demo/build
	$(MAILER) build issues/2027-q1-harvest-bridge.yaml -o demo/harvest-bridge
	$(DEMO_ENV) $(MAILER) subscribers import subscribers.csv.example --list partners
	$(DEMO_ENV) $(MAILER) send issues/2018-03-iom-turkey.yaml --list partners --backend outbox --yes
	@echo
	@echo "demo: the built issue is in demo/build/ (open demo/build/index.html)"
	@echo "demo: the second sample (a food bank quarterly) is in demo/harvest-bridge/"
	@echo "demo: one .eml per recipient is in demo/outbox/; the database is demo/mailer.db"

## test: the whole test suite (tests needing chromium/postgresql/node tools skip unless installed)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## bench: performance figures (printed, not asserted)
bench: $(STAMP)
	$(BIN)/python -m bench

## golden: regenerate golden files on purpose, then review the diff
golden: $(STAMP)
	MAILER_REGENERATE_GOLDEN=1 $(BIN)/python -m pytest -q tests -k golden

## lint: ruff, formatting, strict mypy and the import layers (import-linter)
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf out outbox demo .pytest_cache .mypy_cache .ruff_cache
