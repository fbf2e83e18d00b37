# Set-up and everyday commands. Only python3 (3.11), make and git are needed on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/base.txt requirements/dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint check audit requirements clean

# Re-installs whenever a pinned requirements file changes (the stamp name carries their checksum).
# Every pin carries its hashes: pip refuses a file that differs from the one pinned.
$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
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

check: $(STAMP)
	DJANGO_SECRET_KEY=check-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz \
	DJANGO_ALLOWED_HOSTS=example.org \
	$(BIN)/python manage.py check --deploy --fail-level WARNING --settings=settings.prod

# Supply chain: pip-audit over every pin, bandit over our code (scripts/audit says how it counts).
audit: $(STAMP)
	scripts/audit

# Re-pin after editing requirements/*.in.
requirements: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o base.txt base.in
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o dev.txt dev.in

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
