# The mutation campaign over the privacy-critical modules (docs/mutation.md): mutants generated
# from the current source at run time plus the named bugs of issue 23 (tools/mutation/), each
# run against the tests mapped to its module, in a copy of the tree.
#   make mutation-report [MUTATION_MAX=12] [MUTATION_SEED=23] [MUTATION_MODULES=a.py,b.py]
#                        [MUTATION_TIMEOUT=240] [MUTATION_OUT=out/mutation]
# MUTATION_MAX: generated mutants per module, a seeded sample (all: MUTATION_MAX=all). The named
# mutants always run. Report: $(MUTATION_OUT)/report.txt and report.json.
MUTATION_MAX ?= 12
MUTATION_SEED ?= 23
MUTATION_MODULES ?=
MUTATION_TIMEOUT ?= 240
MUTATION_OUT ?= out/mutation

.PHONY: mutation-report
mutation-report: $(STAMP)
	nice -n 10 $(BIN)/python -m tools.mutation \
	  $(if $(filter all,$(MUTATION_MAX)),,--max $(MUTATION_MAX)) --seed $(MUTATION_SEED) \
	  --modules "$(MUTATION_MODULES)" --timeout $(MUTATION_TIMEOUT) --out $(MUTATION_OUT)
