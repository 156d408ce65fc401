# Two commands do all set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install migrate demo run test worker bench-help

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first: the pinned CPU build installs from this machine's disk.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

# The development server runs with DEBUG on (tracebacks in the browser); DJANGO_DEBUG=0 turns it off.
run: demo
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} scripts/run.sh

worker: install
	$(BIN)/celery -A config worker --loglevel INFO

test: migrate
	$(BIN)/python -m pytest $(PYTEST_ARGS)
