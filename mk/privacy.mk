# The privacy contract, in bigger doses than make test runs, with the figures printed at the end
# (host_tools/hil/privacy_report.py). It fails, saying which, if a file below ran no test (a test
# file moved or renamed must be renamed here too) or a figure was not collected.
#   make privacy-report [PRIVACY_SCENARIOS=40] [PRIVACY_POWERCUTS=250] [PRIVACY_K='expr']
#                       [PRIVACY_JOBS=2] [PRIVACY_DIR=out/privacy]
PRIVACY_SCENARIOS ?= 40
PRIVACY_POWERCUTS ?= 250
PRIVACY_K ?=
PRIVACY_JOBS ?= 2
PRIVACY_DIR ?= out/privacy
PRIVACY_TESTS := tests/test_privacy_scenarios.py host_tools/hil/suite/test_privacy_contract.py \
  tests/test_store_powercut.py tests/test_session_signing.py tests/test_protocol.py

.PHONY: privacy-report
privacy-report: $(STAMP)
	rm -rf $(PRIVACY_DIR)
	status=0; PRIVACY_SCENARIOS=$(PRIVACY_SCENARIOS) PRIVACY_POWERCUTS=$(PRIVACY_POWERCUTS) \
	  EARSHOT_REPORT_DIR=$(PRIVACY_DIR) $(BIN)/python -m pytest -q -p no:cacheprovider \
	  -n $(PRIVACY_JOBS) -o junit_family=xunit1 --junit-xml $(PRIVACY_DIR)/junit.xml \
	  $(if $(PRIVACY_K),-k '$(PRIVACY_K)') $(PRIVACY_TESTS) || status=$$?; \
	$(BIN)/python -m host_tools.hil.privacy_report $(PRIVACY_DIR) $$status $(PRIVACY_TESTS)
