# Two commands do all the set-up on a fresh machine (Python 3.11+):
#   make run    create .venv, install requirements.txt, run the whole pipeline (`dvc repro`)
#   make test   create .venv, install requirements.txt, run the tests
VENV ?= .venv
PYTHON ?= python3
# Stage commands call `python`: put the venv first so DVC's shell finds it.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test bench

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed
	dvc repro

test: $(VENV)/.installed
	python -m pytest -q tests

bench: $(VENV)/.installed
	python benchmarks/bench_grow.py
