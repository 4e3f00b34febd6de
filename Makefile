# Two commands do all the set-up on a fresh machine (Python 3.11+):
#   make run    create .venv, install requirements.txt, run the whole pipeline (`dvc repro`)
#   make test   create .venv, install requirements.txt, run the tests
# and, while editing, the tests but those that run the real `dvc` (marked e2e in pyproject.toml):
#   make check
# and one for a teammate who will `dvc pull` the team's artifacts rather than compute them:
#   make setup  create .venv and install requirements.txt, nothing else
VENV ?= .venv
PYTHON ?= python3
# Stage commands call `python`: put the venv first so DVC's shell finds it.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup run test check bench

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed
	@echo "ready: . $(VENV)/bin/activate, then dvc pull (or dvc repro)"

run: $(VENV)/.installed
	dvc repro

# One test process per core (pytest-xdist); the tests that share a project built once per file stay in
# one process, in order (tests/conftest.py groups them), the others go to whichever process is free.
test: $(VENV)/.installed
	python -m pytest -q -n auto --dist loadgroup

check: $(VENV)/.installed
	python -m pytest -q -n auto --dist loadgroup -m "not e2e"

bench: $(VENV)/.installed
	python benchmarks/bench_grow.py
