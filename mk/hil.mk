# Hardware in the loop as a lab runs it (docs/hil-rig.md): a labgrid farm on loopback, and how
# the suite scales on this machine. Both need labgrid (the [lab] extra, in [test]) and ser2net
# (apt-get install ser2net). Both fail if no test ran (earshot hil does).
#   make hil-farm-demo [HIL_FARM_BOARDS=3] [HIL_K='power_cut or push_to_talk'] [HIL_FARM_OUT=DIR]
#   make bench-hil [BENCH_HIL_BOARDS=1,3,6] [BENCH_HIL_REPEATS=1] [BENCH_HIL_K=expr]
#                  [BENCH_HIL_OUT=DIR]
HIL_FARM_BOARDS ?= 3
HIL_K ?=
HIL_FARM_OUT ?= out/hil-farm
BENCH_HIL_BOARDS ?= 1,3,6
BENCH_HIL_REPEATS ?= 1
BENCH_HIL_K ?=
BENCH_HIL_OUT ?= out/bench-hil

.PHONY: hil-farm-demo bench-hil
# A coordinator and an exporter on 127.0.0.1, three virtual boards as three places, the whole
# suite on all three from one `earshot hil --place ...`; everything stopped at the end (an
# hour at most).
hil-farm-demo: $(STAMP)
	timeout --signal=INT 3600 $(BIN)/python -m host_tools.hil.farm demo \
	  --boards $(HIL_FARM_BOARDS) --out $(HIL_FARM_OUT) $(if $(HIL_K),-k '$(HIL_K)')

# Wall time and CPU of the whole suite on 1, 3 and 6 boards, direct ports vs labgrid places.
bench-hil: $(STAMP)
	nice -n 10 $(BIN)/python -m host_tools.hil.bench --boards $(BENCH_HIL_BOARDS) \
	  --repeats $(BENCH_HIL_REPEATS) --out $(BENCH_HIL_OUT) $(if $(BENCH_HIL_K),-k '$(BENCH_HIL_K)')
