# Set-up and everyday commands. Only python3 (3.11), make and git are needed on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/pip.txt requirements/base.txt requirements/dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint check audit requirements clean bench soak loadtest

# Re-installs whenever a pinned requirements file changes (the stamp name carries their checksum).
# Every pin carries its hashes: pip refuses a file that differs from the one pinned.
$(STAMP): requirements/pip.txt requirements/base.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/pip.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/base.txt -r requirements/dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

var:
	mkdir -p var

run: $(STAMP) var
	DJANGO_SETTINGS_MODULE=settings.dev $(BIN)/python manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=settings.dev $(BIN)/python manage.py seeddemo
	DJANGO_SETTINGS_MODULE=settings.dev $(BIN)/python manage.py sendreminders
	exec scripts/run-dev

test: $(STAMP) var
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

check: $(STAMP)
	DJANGO_SECRET_KEY=check-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz \
	DJANGO_ALLOWED_HOSTS=example.org \
	$(BIN)/python manage.py check --deploy --fail-level WARNING --settings=settings.prod

# Supply chain: pip-audit over every pin, bandit over our code (scripts/audit says how it counts).
audit: $(STAMP)
	scripts/audit

# Benchmarks at scale (not a test): 1,000,000 escalations in PostgreSQL (BENCH_DATABASE_URL, default
# escalations_bench on 127.0.0.1), measured, written to docs/benchmarks.md and .svg. BENCH_ROWS=20000 is quick.
bench: $(STAMP)
	$(BIN)/python -m bench

# The served stack under load (a benchmark, not a test): gunicorn with gunicorn.conf.py under settings.prod on
# a copy of the bench database, people signed in for real, wrk as concurrent moderators, leads, a pipeline and
# an admin; requests/s and p50/p95/p99 per page into docs/benchmarks.md. Needs wrk (apt-get install wrk),
# PostgreSQL (BENCH_DATABASE_URL; the bench database is made when missing, BENCH_ROWS=20000 is quick) and Redis
# (LOADTEST_REDIS_URL, default db 13, emptied). LOADTEST_CLIENTS=8 LOADTEST_SECONDS=15 LOADTEST_WORKERS=4.
loadtest: $(STAMP) var
	@command -v wrk >/dev/null 2>&1 || { echo "make loadtest needs wrk: apt-get install wrk (Debian, Ubuntu)" >&2; exit 1; }
	$(BIN)/python -m bench.loadtest

# The fault soak, long form (two web processes, three workers, two beats; 60 SIGKILLs, at least 10 of
# them inside a worker's delivery, Redis down 2 minutes, a PostgreSQL restart; about 25 minutes):
# prints "soak: ... worker kills mid-sweep=N ... expected=N delivered=N lost=0 doubled=0 ...".
# SOAK_SEED=<n> replays a run.
soak: $(STAMP)
	SOAK_PROFILE=long REQUIRE_SERVICES=postgres,redis $(BIN)/python -m pytest tests/faults -s -p no:cacheprovider

# Screenshots of every page for each role, at desktop and phone widths, into docs/screenshots/ with
# their index (README.md there); `make test` writes them to test-results/browser/pages/ only.
.PHONY: screenshots
screenshots: $(STAMP) var
	UPDATE_DOCS_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser/test_screenshots.py -s

# Re-pin after editing requirements/*.in.
requirements: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o base.txt base.in
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o dev.txt dev.in

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
