# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench soak

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The browser client's Socket.IO library, from package-lock.json.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

# Flack on the embedded default (SQLite, one process) at http://127.0.0.1:5000.
run: $(VENV)/.runtime node_modules/.package-lock.json
	FLACK_ENV=$${FLACK_ENV:-development} $(BIN)/python manage.py db upgrade
	FLACK_ENV=$${FLACK_ENV:-development} exec $(BIN)/python manage.py run

# The whole test suite.
test: $(VENV)/.dev node_modules/.package-lock.json
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/python manage.py lint

# Benchmarks against the floor of the stack (bench/README.md); not tests.
bench: $(VENV)/.dev node_modules/.package-lock.json
	$(BIN)/python -m bench $(BENCH_ARGS)

# A long run with faults (bench/README.md): 30 minutes by default,
# e.g. make soak SOAK_ARGS="--minutes 30 --seed 7".
soak: $(VENV)/.dev node_modules/.package-lock.json
	$(BIN)/python -m bench.soak $(SOAK_ARGS)
