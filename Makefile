# Two commands for a new user (see README):
#   make demo   set up, load the demo archive into data/mediatrack.db, start the service
#   make test   set up (system packages too, when run as root on Debian) and run every test
#   make bench  the benchmark of docs/performance.md (BENCH_ARGS="--quick" for a short try)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

# System packages the real-stack tests drive (PC/SC, nfcpy, PACS, the browser and its CJK font).
SYSTEM_PACKAGES = pcscd libpcsclite-dev swig vsmartcard-vpcd orthanc orthanc-dicomweb \
                  chromium fonts-noto-cjk poppler-utils

.PHONY: demo test system venv screens bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,postgres]'
	touch $@

venv: $(VENV)/.installed

system:
	@./.ci/system-packages $(SYSTEM_PACKAGES)

demo: venv
	$(VENV)/bin/mediatrack demo --reset
	$(VENV)/bin/mediatrack serve --host $(HOST) --port $(PORT)

test: system venv
	$(VENV)/bin/ruff check app readers tests
	$(VENV)/bin/mypy app readers
	$(VENV)/bin/python -m pytest --durations=40 $(PYTEST_ARGS)

# Screenshots of every page (both languages, desk and phone size) into docs/screens/.
screens: system venv
	$(PY) -m tests.support.screens

# Every goal of docs/performance.md measured in one run (about N minutes; see there). It needs
# wrk (the HTTP load generator) and matplotlib (the pictures), neither of which the tests need.
$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,postgres,bench]'
	touch $@

bench: venv $(VENV)/.bench-installed
	@./.ci/system-packages wrk
	$(PY) -m tests.bench $(BENCH_ARGS)
