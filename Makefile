# Loa: `make run` starts the bot, `make test` runs every test. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup catalogs db browser fonts bench clean

run: setup db fonts
	$(PY) -m bot run

# Every test once; those on a database (the `settings` or `database_url` fixture) twice, on
# SQLite and on PostgreSQL (127.0.0.1:5432; each gets its own copy of a migrated template
# database): one session, so the two halves share the workers (tests/conftest.py says which
# run where). Three pytest-xdist workers on the two cores (WORKERS=0 for one process; a worker
# often waits on a browser, a subprocess or a timer), long end-to-end tests first and idle
# workers stealing queued tests; no test shares a database or a fixed port. Ends with
# the 15 slowest tests (--durations in pyproject.toml). LOA_TEST_DB=sqlite or postgres: one half.
WORKERS ?= 3
test: setup browser fonts
	$(PY) -m ruff check bot tests bench
	$(VENV)/bin/lint-imports --no-cache   # layer rules and no cycles (pyproject.toml [tool.importlinter])
	$(PY) -m bot check-content
	$(PY) -m pytest -n $(WORKERS) --dist worksteal $(PYTEST_ARGS)

setup: $(STAMP) catalogs

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Compile gettext catalogs (locales/<lang>/LC_MESSAGES/loa.po -> .mo) with polib, which keeps
# Plural-Forms for languages Babel has no data for (see ../shared/languages.md).
catalogs: $(STAMP)
	$(PY) -m bot.features.translations.catalogs compile

db: $(STAMP)
	$(PY) -m bot migrate

# Debian's chromium for the browser tests (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-core >/dev/null; }

# Noto Sans for the report chart and the printable leaflets (Debian package fonts-noto-core).
NOTO := /usr/share/fonts/truetype/noto/NotoSans-Regular.ttf
fonts:
	@test -f $(NOTO) || test -f "$$BOT_NOTO_DIR/NotoSans-Regular.ttf" || { \
	  echo "installing fonts-noto-core (Noto Sans, for charts and leaflets)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-core >/dev/null; } || true; }
	@test -f $(NOTO) || test -f "$$BOT_NOTO_DIR/NotoSans-Regular.ttf" || { echo "error: $(NOTO) is missing; install the Debian package fonts-noto-core (or set BOT_NOTO_DIR to a folder with NotoSans-Regular.ttf and NotoSans-Bold.ttf)"; exit 1; }

# bench/replies.py's aiogram baseline runs in its own venv (bench/requirements-aiogram.txt).
BENCH_VENV := .venv-bench
bench: setup $(BENCH_VENV)/.installed
	$(PY) bench/replies.py

$(BENCH_VENV)/.installed: bench/requirements-aiogram.txt
	test -d $(BENCH_VENV) || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements-aiogram.txt
	touch $@

clean:
	rm -rf $(VENV) $(BENCH_VENV) *.egg-info
