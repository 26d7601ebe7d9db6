# budgetkg — `make run` builds the bundled seeds into the embedded store and serves them;
# `make test` runs the test suite. Both create .venv and install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STORE  ?= budgetkg-store
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run build serve assets virtuoso test lint wheel bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

build: $(STAMP)
	$(BIN)/budgetkg build --store $(STORE)

# front-end assets from npm (served locally, no CDN); in CI also Debian's chromium for browser tests
assets:
	scripts/setup-assets.sh $(if $(filter true,$(CI)),--with-chromium,)

# OpenLink Virtuoso (Debian's virtuoso-opensource), the second real SPARQL server the tests run budgetkg against
virtuoso:
	scripts/setup-virtuoso.sh

run: build assets
	$(BIN)/budgetkg serve --store $(STORE) --host $(HOST) --port $(PORT)

# pytest exits 5 when it collects no test; that is reported, not hidden, by its own summary line.
# tests/test_install.py builds the wheel and installs it, not editable, into a fresh venv.
# The suite runs in one process per CPU (pytest-xdist), a test module's tests in one of them (--dist loadfile):
# a module-scoped fixture (a built store, a Virtuoso) is made once. TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= auto
test: lint assets virtuoso
	$(BIN)/python -m pytest -q --durations=20 -n $(TEST_WORKERS) --dist loadfile; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

# ruff, mypy (configured in pyproject.toml) and, once pyproject.toml declares its contracts, import-linter
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	if grep -q '^\[tool\.importlinter\]' pyproject.toml; then $(BIN)/lint-imports; else echo "lint-imports: no [tool.importlinter] contracts"; fi

# the wheel, as tests/test_install.py builds it (package data included; see docs/install.md)
wheel: $(STAMP) assets
	$(BIN)/python -m pip wheel . --no-deps -w dist

bench: $(STAMP)
	$(BIN)/python -m bench.bench_build

clean:
	rm -rf $(VENV) $(STORE) node_modules server/static/vendor .pytest_cache .hypothesis *.egg-info build dist
