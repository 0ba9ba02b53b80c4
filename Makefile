# The two commands of the README's first lines, on a fresh clone with only Python >= 3.10 and make:
#   make demo   the main job on the embedded defaults (pass options with ARGS="--quick")
#   make test   the test suite (pass pytest options with ARGS="-k metrics"; EXTRAS=test,ray adds Ray, on a new .venv)
# The first run creates .venv and installs into it (the CPU wheel of torch first: a bare `torch`
# requirement pulls a multi-gigabyte CUDA build); later runs install nothing unless
# pyproject.toml changed.

PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.textmetric-installed
ARGS ?=
EXTRAS ?= test

.PHONY: demo test install clean-venv

demo: $(STAMP)
	$(VENV)/bin/textmetric demo $(ARGS)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q $(ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "textmetric needs Python >= 3.10; this is " + sys.version.split()[0] + " (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VENV)/bin/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
