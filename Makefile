# The two set-up commands: `make demo` and `make test`. Each creates .venv when
# missing and installs the package with the extras it needs (a no-op when the
# installed copy is current), then runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint install-dev install-demo browser java clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files re-run the install only when pyproject.toml changes.
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[airflow,serve]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres,airflow,spark]"
	touch $@

install-demo: $(VENV)/.installed-demo
install-dev: $(VENV)/.installed-dev

demo: install-demo
	$(BIN)/group-etl demo

# ruff over everything; mypy over the layers whose types the engines' adapters declare
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy etl/store etl/run

# The browser test (tests/e2e/test_group_page_browser.py) drives Debian's Chromium
# headless through its chromedriver: installed with apt when either is missing
# (a no-op when both are there; as root, or through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }

# Spark 4 needs Java 17 or newer, found as spark-class finds it ($$JAVA_HOME/bin/java, else
# java on PATH). Missing or older: under CI=true an error, elsewhere a warning (the Spark
# tests skip; tests/spark/conftest.py applies the same rule).
JAVA_NEEDED := 17
JAVA_INSTALL := apt-get install openjdk-17-jre-headless
java:
	@java="$${JAVA_HOME:+$$JAVA_HOME/bin/}java"; \
	if ! command -v "$$java" >/dev/null 2>&1; then \
	  problem="no Java found ($$java)"; \
	else \
	  shown=$$("$$java" -version 2>&1 | head -n 1); echo "java: $$shown"; \
	  major=$$(echo "$$shown" | sed -n 's/.*version "\(1\.\)\{0,1\}\([0-9][0-9]*\).*/\2/p'); \
	  [ -n "$$major" ] && [ "$$major" -ge $(JAVA_NEEDED) ] || problem="$$java is Java $${major:-of unknown version}"; \
	fi; \
	if [ -n "$$problem" ]; then \
	  if [ "$$CI" = true ]; then \
	    echo "error: $$problem: the Spark tests need Java $(JAVA_NEEDED) or newer: $(JAVA_INSTALL)" >&2; exit 1; \
	  fi; \
	  echo "warning: $$problem: the Spark tests will skip (they need Java $(JAVA_NEEDED) or newer: $(JAVA_INSTALL))" >&2; \
	fi

# Everything CI runs: every layer, both warehouses, the slow end-to-end tests.
test: install-dev lint browser java
	$(BIN)/python -m pytest

# The edit loop (under 2 minutes): unit tests and the DuckDB warehouse tests, on two
# workers (pytest-xdist); the oracles, the bad-input corpus and the killed-process tests
# are `slow`: `make test` runs them.
test-fast: install-dev
	$(BIN)/python -m pytest tests/unit tests/sql -m "not slow and not postgres" -q -n 2

clean:
	rm -rf data/lake data/warehouse.duckdb
