# Soak: hours of a household's day on one virtual board with the serial, I2S DMA, flash and
# watchdog models on; prints and writes out/soak/report.{txt,json} (host_tools/sim/soak.py).
#   make soak HOURS=24 [SOAK_DIR=out/soak]   (board time; it runs ~30x faster than real time;
#   Ctrl-C judges and reports the hours soaked so far, exit 130)
#   the host stops reading mid-session every SLOW_EVERY-th episode, and a consent is confirmed
#   mid-session (flash written under audio) every FLASH_EVERY-th: 0 silent splices, 0 resets.
HOURS ?= 1
SLOW_EVERY ?= 5
FLASH_EVERY ?= 4
SOAK_DIR ?= out/soak

.PHONY: soak
soak: $(STAMP)
	nice -n 10 $(BIN)/python -m host_tools.sim.soak --hours $(HOURS) --out $(SOAK_DIR) \
		--slow-every $(SLOW_EVERY) --flash-every $(FLASH_EVERY)
