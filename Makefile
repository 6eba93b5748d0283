# Kindred: `make run` starts the whole service on embedded defaults; `make test` runs the suite.
# Both set themselves up on a fresh machine (Python 3.11+, nothing else needed): PostgreSQL and
# Redis come embedded (pip wheels) when DATABASE_URL / REDIS_URL are unset.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint bench clean

# The browser tests drive Debian's Chromium (never a downloaded browser).
CHROMIUM := /usr/bin/chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m scheduler.devserver

demo: $(STAMP)
	$(BIN)/python -m scheduler.devserver --demo

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Debian's chromium: sudo apt-get install -y chromium"; exit 1; \
	fi

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	@# a server left running on deleted files would be joined by the next `make run`
	@if [ -x $(BIN)/python ]; then $(BIN)/python -c 'from pathlib import Path; \
		from scheduler.embedded_postgres import stop_embedded_postgres; \
		stop_embedded_postgres(Path("instance/postgres"))'; fi
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
