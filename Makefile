# Earshot: two commands do all the set-up on a fresh machine (Python 3.11 + make):
#   make demo   a virtual board, the firmware deployed to it, a household scene played into it
#   make test   the whole suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean help

help:
	@echo "make demo    start a virtual board, deploy, play a household scene (under a minute)"
	@echo "make test    create/refresh .venv and run the whole suite"

# (Re)install when the declared dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m host_tools.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# Each area adds its own targets (wake word, benchmarks, campaigns) in mk/.
-include mk/*.mk
