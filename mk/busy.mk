# The suite on a busy machine (issue 19; host_tools/busy.py): the suite BUSY_RUNS times in a row
# beside BUSY_CPU CPU-bound neighbours and BUSY_BOARDS other virtual boards hearing speech;
# prints each run and writes $(BUSY_OUT)/report.{md,json}. Fails if a run fails.
#   make test-busy [BUSY_RUNS=2] [BUSY_CPU=4] [BUSY_BOARDS=4] [BUSY_TESTS="tests/..."]
#                  [BUSY_OUT=out/busy]
# About three times make test's time per run with the defaults on a 2-core machine.
BUSY_RUNS ?= 2
BUSY_CPU ?= 4
BUSY_BOARDS ?= 4
BUSY_TESTS ?=
BUSY_OUT ?= out/busy

.PHONY: test-busy

test-busy: $(STAMP)
	$(BIN)/python -m host_tools.busy --runs $(BUSY_RUNS) --cpu $(BUSY_CPU) \
	  --boards $(BUSY_BOARDS) --out $(BUSY_OUT) -- $(BUSY_TESTS)
