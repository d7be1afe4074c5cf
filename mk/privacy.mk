# The privacy contract, in bigger doses than make test runs (tests/test_privacy_*.py,
# tests/test_store_powercut.py), with the figures printed at the end.
#   make privacy-report [PRIVACY_SCENARIOS=40]
PRIVACY_SCENARIOS ?= 40
REPORT_DIR := out/privacy

.PHONY: privacy-report
privacy-report: $(STAMP)
	rm -rf $(REPORT_DIR)
	status=0; PRIVACY_SCENARIOS=$(PRIVACY_SCENARIOS) EARSHOT_REPORT_DIR=$(REPORT_DIR) \
	  $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 \
	  tests/test_privacy_scenarios.py tests/test_privacy_contract.py tests/test_store_powercut.py \
	  tests/test_session_signing.py tests/test_protocol.py || status=$$?; \
	$(BIN)/python -m host_tools.hil.privacy_report $(REPORT_DIR) $$status
