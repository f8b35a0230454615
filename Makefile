# Vool — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin

AXE     = tests/e2e/browser/node_modules/.installed

.PHONY: install lock run test screenshots docs messages k8s bench bench-readings bench-portal bench-memory bench-billing bench-billing-e2e bench-sweep chaos clean

# Every transitive dependency comes from the lock, each file checked against its hash;
# the project itself is then installed without resolving anything again.
$(BIN)/.installed: pyproject.toml requirements/test.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements/test.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Regenerate both locks from pyproject.toml (Python 3.11 on Linux): test.lock for
# `make install` and CI, runtime.lock for deploy/Dockerfile.
UV_COMPILE = uv pip compile pyproject.toml --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet
lock:               ## requirements/test.lock and requirements/runtime.lock, with hashes, from pyproject.toml (needs uv: pip install uv)
	$(UV_COMPILE) --extra test -o requirements/test.lock
	$(UV_COMPILE) -o requirements/runtime.lock

# axe-core for the browser tests, as package-lock.json pins it
$(AXE): tests/e2e/browser/package.json tests/e2e/browser/package-lock.json
	cd tests/e2e/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed $(AXE)

run: install        ## every service and the gateway on :8000; Ctrl-C stops them all
	$(BIN)/vool run

test: install       ## the import boundaries (.importlinter), then unit, integration and end-to-end tests on RabbitMQ and PostgreSQL, then the browser tests (Chromium, axe-core)
	$(BIN)/lint-imports && $(BIN)/pytest
	VOOL_EVENTLET_PATCH=0 $(BIN)/pytest tests/e2e/test_portal_browser.py

screenshots: install  ## docs/portal/<page>-<lang>.png of the portal's main pages, from a `vool run` of the demo
	VOOL_EVENTLET_PATCH=0 $(BIN)/python -m tests.e2e.screenshots

docs: install       ## write docs/rpc.md and docs/asyncapi.json from the services' api.py
	$(BIN)/vool docs

OVERLAY ?= production
k8s:                ## print deploy/k8s/overlays/$(OVERLAY) as Kubernetes would get it (OVERLAY=dev, production, production-managed-postgres; needs kubectl, no cluster)
	kubectl kustomize deploy/k8s/overlays/$(OVERLAY)

# Every package with a locale/ directory has its texts in a catalog (babel.cfg says where).
LOCALES = $(sort $(shell find services -type d -name locale -not -path '*/templates/*'))

messages: install   ## extract each package's texts to locale/messages.pot and update its .po files (new texts empty, changed ones fuzzy)
	@set -e; for locale in $(LOCALES); do \
	  $(BIN)/pybabel --quiet extract -F babel.cfg --add-location=file --no-wrap \
	    --project=vool --copyright-holder="Vool Energia AS" -o $$locale/messages.pot $${locale%/locale}; \
	  $(BIN)/pybabel --quiet update -i $$locale/messages.pot -d $$locale --no-wrap \
	    --previous --ignore-obsolete --ignore-pot-creation-date; \
	  echo "$$locale: $$(grep -c '^msgid "[^"]' $$locale/messages.pot) texts"; \
	done

bench: install      ## the floor vs the real reading flow (see bench/README.md)
	$(BIN)/python -m bench.run

bench-readings: install  ## (a), (d), (c) saturated at 50 clients and (c) paced at half that rate, against issue #18's targets
	$(BIN)/python -m bench.run --scenarios floor,skeleton,gateway --concurrency 50 --paced 0.5 --record readings

bench-memory: install  ## every service process's RSS under 10 minutes of paced readings (issue #18, P5)
	$(BIN)/python -m bench.memory --record

bench-billing: install  ## the billing run at 10k, 100k and 700k contracts, then the monthly run end to end at 700k (issue #18, P2; see bench/README.md)
	$(BIN)/python -m bench.billing_run
	$(BIN)/python -m bench.billing_end_to_end --record

bench-billing-e2e: install  ## the monthly run end to end at 700k: billed, every invoice_issued published and handled by notifications (inbox + e-mail queued), each stage's time and rate (issue #18)
	$(BIN)/python -m bench.billing_end_to_end $(if $(SIZE),--size $(SIZE))

chaos: install      ## break the running system under load and count what came out (docs/reliability.md)
	$(BIN)/python -m bench.chaos $(if $(SCENARIOS),--scenarios $(SCENARIOS))

bench-portal: install  ## the portal overview under 10 browsers, RPCs per page (issue #18)
	$(BIN)/python -m bench.portal --record

bench-sweep: install  ## the reminder sweep over 10,000 points on SQLite and PostgreSQL beside live traffic (issue #14)
	$(BIN)/python -m bench.reminder_sweep --record

clean:
	rm -rf $(VENV) var
