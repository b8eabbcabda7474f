# The two commands a newcomer needs: `make dev` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: dev test venv venv-dev catalogs catalogs-extract catalogs-update messages-extract lint format bench clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.installed-dev: requirements.txt requirements-dev.txt $(BIN)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed catalogs
venv-dev: $(BIN)/.installed-dev catalogs

## make catalogs: compile the gettext catalogs: the letters' (letters.po) and the pages' (messages.po) -> .mo
catalogs: $(BIN)/.installed
	$(BIN)/pybabel compile -d portal/translations -D letters
	$(BIN)/pybabel compile -d portal/translations -D messages

## make catalogs-extract / catalogs-update: new source texts -> letters.pot -> every letters.po
catalogs-extract: $(BIN)/.installed
	$(BIN)/pybabel extract --no-default-keywords -k _p:1c,2 --no-location --omit-header -o portal/translations/letters.pot portal/domain/letters.py
catalogs-update: catalogs-extract
	$(BIN)/pybabel update -i portal/translations/letters.pot -d portal/translations -D letters --width 100
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations -D messages -l fa --no-fuzzy-matching --width 100

## make messages-extract: the pages' words (templates and portal/**.py, see babel.cfg) -> messages.pot;
## then `make catalogs-update` merges them into fa/messages.po: fill every new empty msgstr
messages-extract: $(BIN)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _ -k N_ --no-location --omit-header --sort-output --width 100 -o portal/translations/messages.pot .
catalogs-extract: messages-extract

## make dev: the whole system with demo data at http://127.0.0.1:5000 (Ctrl-C stops it all)
dev: venv
	@bash scripts/dev.sh

## make test: the whole test suite (starts what it needs; see tests/conftest.py)
test: venv-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv-dev
	$(BIN)/ruff check portal workers tests schedules.py wsgi.py
	$(BIN)/ruff format --check portal workers tests schedules.py wsgi.py

format: venv-dev
	$(BIN)/ruff format portal workers tests schedules.py wsgi.py

clean:
	rm -rf $(VENV) build .pytest_cache

## make bench: the benchmarks of docs/performance.md (BENCH_STUDENTS=20000 or 100000; BENCH_RUNS=3; BENCH_TERMS=2)
BENCH_STUDENTS ?= 20000
BENCH_RUNS ?= 3
BENCH_TERMS ?= 2
bench: venv-dev
	bash scripts/bench-tools.sh
	BENCH_STUDENTS=$(BENCH_STUDENTS) BENCH_RUNS=$(BENCH_RUNS) BENCH_TERMS=$(BENCH_TERMS) $(BIN)/python bench/run.py
