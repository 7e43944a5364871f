# The project's entry points for people; each target installs what it needs first, into the
# project's own virtual environment .venv (made with the python3 it finds; nothing is installed
# into that python itself), and again only when pyproject.toml, setup.py or ext/ change.
#   make serve   the eligibility API on an embedded Redis with demo rules and members
#   make test    the whole test suite (both evaluators, real redis-server)
#   make test-fast       the same without the tests marked slow, in under a minute (after one install)
#   make test-reference  the API and CLI tests with the pure-Python reference evaluator serving
#   make lint    ruff (lint and format) and mypy, as CI runs them
#   make bench   the engine benchmark, side by side, with its targets (bench-api: the API's)
#   make reset   delete the demo server's data (./var), refused while a server holds it
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
DATA_DIR := $(or $(RIGHTS_DATA_DIR),var)

.PHONY: install redis browser haproxy serve demo lint test test-fast test-reference test-debug bench bench-api reset

# Debian packages, installed when missing: as root with apt-get, otherwise named for the user
define apt_install
  if [ "$$(id -u)" = 0 ]; then echo "make: installing $(1) with apt-get ($(2))"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
  else echo "make: missing Debian packages for $(2): sudo apt-get install $(1)"; exit 1; fi
endef

redis:
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
	  $(call apt_install,redis-server,the embedded Redis and the tests' servers); }

# the browser tests (the dashboard, the API docs): Debian's chromium, its driver, and a CJK font for the names
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  $(call apt_install,chromium chromium-driver fonts-wqy-zenhei,the browser tests of the dashboard and /docs); }

# the deployment test: two replicas behind Debian's haproxy
haproxy:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { \
	  $(call apt_install,haproxy,the load-balanced deployment test); }

# the project's virtual environment; Debian's python3 needs python3-venv for it, and
# python3-dev for the compiled modules' headers
$(PY):
	@$(PYTHON) -c "import ensurepip, sysconfig, os, sys; \
	  sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" 2>/dev/null || { \
	  $(call apt_install,python3-venv python3-dev,a virtual environment and the compiled modules); }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# installed once, and again only when what the install builds from changes
INSTALLED := $(VENV)/.installed
install: redis $(INSTALLED)
$(INSTALLED): $(PY) pyproject.toml setup.py $(wildcard ext/*.pyx ext/*.pxd ext/*.py) engine/codes.py engine/layout.py engine/model.py
	@echo "make: installing rights-engine and its Python packages into $(VENV), building the compiled modules"
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

# the demo server, with an admin token for the rule-push walkthrough: $$RIGHTS_ADMIN_TOKEN
# when set, otherwise one made once and kept in $(DATA_DIR)/admin-token (readable by you only)
serve: install
	@mkdir -p $(DATA_DIR) && { [ -s $(DATA_DIR)/admin-token ] || \
	  (umask 077 && $(PY) -c "import secrets; print(secrets.token_hex(16))" > $(DATA_DIR)/admin-token); }
	@token="$${RIGHTS_ADMIN_TOKEN:-$$(cat $(DATA_DIR)/admin-token)}"; \
	  echo "make serve: admin token $$token (export RIGHTS_ADMIN_TOKEN=$$token for rights rules push)"; \
	  RIGHTS_ADMIN_TOKEN="$$token" exec $(BIN)/rights serve --demo

reset: install
	$(BIN)/rights reset --data-dir $(DATA_DIR)

demo: install
	$(BIN)/rights quote --member '{"tier": "gold", "points": 1850}' --room gala --at 2026-11-11T21:00 \
	  --item MILK-1L:2 --item YOGURT-6:1 --item POWDER-900:1

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: install browser haproxy
	$(PY) -m pytest

# the quick loop while editing: no real `rights serve` processes, browser, load, Cluster or volume runs
test-fast: install
	$(PY) setup.py -q build_ext --inplace
	$(PY) -m pytest -q -m "not slow"

# the API and the CLI with the reference evaluator serving (what RIGHTS_EVALUATOR=reference selects)
REFERENCE_TESTS = tests/test_cli.py tests/test_members_cli.py tests/test_api.py tests/test_access.py \
  tests/test_hostile_input.py tests/test_orders_api.py tests/test_points_api.py tests/test_redemptions_api.py \
  tests/test_rules_api.py tests/test_money_bounds.py tests/test_ledger_invariants.py tests/test_bounded_resources.py
test-reference: install
	RIGHTS_EVALUATOR=reference RIGHTS_TEST_REDIS=single $(PY) -m pytest -q $(REFERENCE_TESTS)

# the same differential and scenario tests against a build with bounds checks on
test-debug: install
	rm -rf build/debug build/cython-debug && RIGHTS_DEBUG=1 $(PY) setup.py -q build_ext --build-lib build/debug --build-temp build/debug-tmp
	cp ext/*.py ext/*.pxd build/debug/ext/
	cd build/debug && cp -r ../../engine ../../api ../../bench ../../tests . && printf '[pytest]\n' > pytest.ini && RIGHTS_EXPECT_DEBUG=1 $(PY) -m pytest -q -p no:cacheprovider --rootdir=. tests/test_differential.py tests/test_scenarios.py tests/test_layout.py tests/test_evaluator_loaded.py

bench: install
	$(BIN)/rights bench engine

bench-api: install
	@command -v wrk >/dev/null 2>&1 || { $(call apt_install,wrk,the HTTP load generator of the API benchmark); }
	$(BIN)/rights bench api
