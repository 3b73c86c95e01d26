# The two commands of the README: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
# The browser tests drive Debian's chromium (never a browser downloaded by playwright).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser test lint typecheck pytest docs bench mutation demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium

browser: $(CHROMIUM)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/pyright

pytest: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

test: lint typecheck docs pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.run

# Mutation testing of the safety core (not part of `make test`): see docs/contributing.md.
MUTATION_SAMPLE ?= 0.1
MUTATION_JOBS ?= 2
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	nice -n 10 $(BIN)/python -m bench.mutation run --sample $(MUTATION_SAMPLE) --jobs $(MUTATION_JOBS)
	$(BIN)/python -m bench.mutation check

demo: $(STAMP)
	$(BIN)/python -m examples.travel.demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
