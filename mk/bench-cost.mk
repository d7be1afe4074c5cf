# What the wake-word detector costs on the ESP32-S3, counted from the machine code mpy-cross
# emits for xtensawin (host_tools/wakeword/cost.py, docs/wakeword.md "Cost").
#   make bench-cost [COST_MODEL=alexa] [BENCH_COST_DIR=out/bench-cost]
#                                         table per function and loop; <dir>/<model>.json
COST_MODEL ?= alexa
BENCH_COST_DIR ?= out/bench-cost

.PHONY: bench-cost

bench-cost: $(STAMP)
	$(BIN)/python -m host_tools.wakeword.cost --model "$(COST_MODEL)" \
	  --json $(BENCH_COST_DIR)/$(COST_MODEL).json
