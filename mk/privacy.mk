# The privacy contract, in bigger doses than make test runs (tests/test_privacy_*.py).
#   make privacy-report [PRIVACY_SCENARIOS=40]
PRIVACY_SCENARIOS ?= 40

.PHONY: privacy-report
privacy-report: $(STAMP)
	PRIVACY_SCENARIOS=$(PRIVACY_SCENARIOS) $(BIN)/python -m pytest -q -p no:cacheprovider \
	  tests/test_privacy_scenarios.py tests/test_privacy_contract.py tests/test_store_powercut.py \
	  tests/test_session_signing.py -o addopts="" -s 2>&1 | tail -n 25
