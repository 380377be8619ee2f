# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Bytecode is written (every test server and `lowrise` command a test runs would otherwise
# compile the package again) but kept out of the tree, under .venv.
export PYTHONPYCACHEPREFIX := $(CURDIR)/.venv/pycache
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-sqlite test-pg lint security bench clean install browser-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, migrate an SQLite database under instance/, seed demo data when empty, serve.
run: $(STAMP)
	$(BIN)/lowrise migrate --yes
	$(BIN)/lowrise seed --if-empty
	$(BIN)/lowrise serve --host 127.0.0.1 --port 5000

## make test: lint, security lint and dependency audit, then every test on SQLite and on
## PostgreSQL, then benchmarks at smoke size.
test: $(STAMP)
	bash .ci/ensure-services
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory security
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q
	$(BIN)/python -m bench --smoke

## make lint: ruff, then the layers declared in pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check platform tests bench
	$(BIN)/lint-imports --no-cache

## make security: bandit over the code (fails on a finding), then pip-audit over the installed
## packages (fails on a known vulnerability; says so when it cannot reach the database).
security: $(STAMP)
	$(BIN)/bandit -q -r platform -c pyproject.toml
	$(BIN)/python .ci/audit_deps.py

## make bench: the benchmarks at full size (1,000,000 cases); figures go in docs/benchmarks.md.
bench: $(STAMP)
	bash .ci/ensure-services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
