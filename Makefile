# The project's entry points for people; each target installs what it needs first.
#   make serve   the eligibility API on an embedded Redis with demo rules and members
#   make test    the whole test suite (both evaluators, real redis-server)
#   make test-fast       the same without the tests marked slow, in under a minute (after one install)
#   make test-reference  the API and CLI tests with the pure-Python reference evaluator serving
#   make lint    ruff (lint and format) and mypy, as CI runs them
#   make bench   the engine benchmark, side by side, with its targets (bench-api: the API's)
PYTHON ?= python3

.PHONY: install redis browser serve demo lint test test-fast test-reference test-debug bench bench-api

redis:
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server or redis-cli is missing: sudo apt-get install redis-server"; exit 1; fi; }

# the browser tests (the dashboard, the API docs): Debian's chromium, its driver, and a CJK font for the names
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei >/dev/null; \
	  else echo "chromium or chromedriver is missing: sudo apt-get install chromium chromium-driver fonts-wqy-zenhei"; exit 1; fi; }

# installed once, and again only when what the install builds from changes
INSTALLED := build/.installed
install: redis $(INSTALLED)
$(INSTALLED): pyproject.toml setup.py $(wildcard ext/*.pyx ext/*.pxd ext/*.py) engine/codes.py engine/layout.py engine/model.py
	$(PYTHON) -m pip install -q -e ".[dev]"
	@mkdir -p build && touch $@

serve: install
	rights serve --demo

demo: install
	rights quote --member '{"tier": "gold", "points": 1850}' --room gala --at 2026-11-11T21:00 \
	  --item MILK-1L:2 --item YOGURT-6:1 --item POWDER-900:1

lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

test: install browser
	$(PYTHON) -m pytest

# the quick loop while editing: no real `rights serve` processes, browser, load, Cluster or volume runs
test-fast:
	$(PYTHON) setup.py -q build_ext --inplace
	$(PYTHON) -m pytest -q -m "not slow"

# the API and the CLI with the reference evaluator serving (what RIGHTS_EVALUATOR=reference selects)
REFERENCE_TESTS = tests/test_cli.py tests/test_members_cli.py tests/test_api.py tests/test_access.py \
  tests/test_hostile_input.py tests/test_orders_api.py tests/test_points_api.py tests/test_redemptions_api.py \
  tests/test_rules_api.py tests/test_money_bounds.py tests/test_ledger_invariants.py tests/test_bounded_resources.py
test-reference: install
	RIGHTS_EVALUATOR=reference RIGHTS_TEST_REDIS=single $(PYTHON) -m pytest -q $(REFERENCE_TESTS)

# the same differential and scenario tests against a build with bounds checks on
test-debug: install
	rm -rf build/debug build/cython-debug && RIGHTS_DEBUG=1 $(PYTHON) setup.py -q build_ext --build-lib build/debug --build-temp build/debug-tmp
	cp ext/*.py ext/*.pxd build/debug/ext/
	cd build/debug && cp -r ../../engine ../../api ../../bench ../../tests . && printf '[pytest]\n' > pytest.ini && RIGHTS_EXPECT_DEBUG=1 $(PYTHON) -m pytest -q -p no:cacheprovider --rootdir=. tests/test_differential.py tests/test_scenarios.py tests/test_layout.py tests/test_evaluator_loaded.py

bench: install
	rights bench engine

bench-api: install
	command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk >/dev/null
	rights bench api
