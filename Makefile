# Compression Lab. `make run`: set up and run every notebook headless with a report.
# `make test`: set up and run the whole test suite (lint, unit, notebooks, browser).
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= default
SYSTEM_PACKAGES := dataset-fashion-mnist chromium

.PHONY: setup system run test lint format strip bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# Debian packages: the real Fashion-MNIST and the browser for the browser tests.
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q $$missing; \
	  else sudo apt-get update -q && sudo apt-get install -y -q $$missing; fi; \
	fi

run: setup system
	$(VENV)/bin/course run --profile $(PROFILE)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup system lint
	COURSE_PROFILE=smoke $(PY) -m pytest tests --nbval-lax notebooks -p no:cacheprovider

strip: setup
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

bench: setup system
	status=0; for script in benchmarks/bench_*.py; do $(PY) $$script || status=1; done; exit $$status
