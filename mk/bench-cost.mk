# What the wake-word detector costs on the ESP32-S3, counted from the machine code mpy-cross
# emits for xtensawin (host_tools/wakeword/cost.py, docs/wakeword.md "Cost").
#   make bench-cost [COST_MODEL=alexa] [BENCH_COST_DIR=out/bench-cost]
#                                         table per function and loop, instructions and
#                                         cycles (LX7 pipeline, runtime calls, interpreted
#                                         glue, PSRAM misses; low..high); <dir>/<model>.json;
#                                         ends `detector: N% of a 240 MHz core (cycle estimate)`
COST_MODEL ?= alexa
BENCH_COST_DIR ?= out/bench-cost

.PHONY: bench-cost

bench-cost: $(STAMP)
	$(BIN)/python -m host_tools.wakeword.cost --model "$(COST_MODEL)" \
	  --json $(BENCH_COST_DIR)/$(COST_MODEL).json
