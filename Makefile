# Two commands do all set-up: `make run` starts the console, `make test` tests it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py

.PHONY: run test bench install secrets migrate lint docs qdrant clean vendor

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(VENV)/.installed

secrets: install
	$(PY) -m console.secrets_file

migrate: secrets
	$(MANAGE) migrate --noinput

run: migrate
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) seed_demo
	exec $(MANAGE) runall

# Node packages the tests use (package.json pins them; node_modules/ is not
# committed): axe-core and the JavaScript gRPC client. Skipped without npm.
NODE_DEPS := $(if $(shell command -v npm),node_modules/.package-lock.json)
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# uPlot's dist files, served from static/ (no CDN): vendored in
# static/vendor/uplot/, copied again from the package.json-pinned package.
vendor: node_modules/.package-lock.json
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css node_modules/uplot/LICENSE \
		static/vendor/uplot/

# The suite in TEST_WORKERS processes (pytest-xdist; tests/parallel.py keeps
# their state apart), each test file whole in one of them so that a module's
# fronts and Qdrant clusters start once. TEST_WORKERS=0: in this process alone.
TEST_WORKERS ?= 3
test: secrets $(NODE_DEPS)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# The data plane's performance ratios (issue 5) and the key set at scale
# (issue 15, on PostgreSQL when DATABASE_URL is one), and what a value_exists
# token costs a real node against a plain JWT (issue 21), what counting usage adds (issue 24),
# and a tenant-bound key against an unbound one (issue 23); figures, not pass/fail.
# BENCH_ONLY=front, BENCH_ONLY=keyset, BENCH_ONLY=tls, BENCH_ONLY=ryw, BENCH_ONLY=fronts, BENCH_ONLY=value_exists,
# BENCH_ONLY=usage, BENCH_ONLY=tenant or BENCH_ONLY=connected
# runs one part alone; ryw (read-your-writes, 100 rounds per set-up and key kind) and connected (a deleted key
# refused by every node of a connected cluster, 100 rounds) fail if a round does.
bench: secrets
	$(PY) -m bench.dataplane
	$(PY) -m bench.grpc_front_calls
	$(PY) -m bench.keyset
	$(PY) -m bench.tls
	$(PY) -m bench.read_your_writes
	$(PY) -m bench.fronts
	$(PY) -m bench.value_exists
	$(PY) -m bench.usage_counting
	$(PY) -m bench.tenant
	$(PY) -m bench.connected_delete

# ruff (pinned in requirements.txt) with the rules of ruff.toml.
lint: install
	$(VENV)/bin/ruff check .

# The documentation site (mkdocs.yml, MkDocs pinned in requirements.txt) from
# docs/ into site/; --strict fails on any warning, so a broken link or anchor fails.
docs: install
	$(VENV)/bin/mkdocs build --strict

# A Qdrant 1.16.3 binary from npm, integrity-checked, cached in .qdrant/;
# prints its path: QDRANT_BINARY=$$(scripts/install-qdrant) make test
qdrant:
	scripts/install-qdrant

clean:
	rm -rf $(VENV) var site
