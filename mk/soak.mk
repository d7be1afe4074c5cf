# Soak: hours of a household's day on one virtual board with the serial, I2S DMA, flash and
# watchdog models on; prints and writes out/soak/report.{txt,json} (host_tools/sim/soak.py).
#   make soak HOURS=24 [SOAK_DIR=out/soak]   (board time; it runs ~30x faster than real time)
HOURS ?= 1
SOAK_DIR ?= out/soak

.PHONY: soak
soak: $(STAMP)
	nice -n 10 $(BIN)/python -m host_tools.sim.soak --hours $(HOURS) --out $(SOAK_DIR)
