# Wake-word training (docs/wakeword.md).
#   make train-wakeword WORD="alexa" [STEPS=3000] [SEED=0]
#                                       train on data/wakeword/<slug>/train, write firmware/models/<slug>.*
#   make models                         both shipped models again (replaces them): alexa 3000 steps
#                                       seed 1 with band-limited copies (session 9, on the format-7
#                                       dataset plus DECtalk: data/wakeword/alexa+dectalk, made by
#                                       host_tools.wakeword.dataset_add; a format-7 build needs the
#                                       dataset code before 8c7f192; docs/wakeword.md),
#                                       hey jarvis 3000 steps seed 0 with band-limited copies and
#                                       the held near-miss bound (session 10, on a format-8 build:
#                                       make dataset WORD="hey jarvis" SCALE=0.2 DATASET_ARGS="--dev-scale
#                                       0.06 --dev-neg-hours 1.5 --train-neg-hours 2")
#   make eval-wakeword WORD="alexa" [SPLIT=held]  false rejects / FA per hour / latency, per speaker
#   make loso-wakeword WORD="alexa"     leave each train speaker out in turn (out/loso/<slug>/)
# Training needs the optional [train] extra (torch); scoring and the board do not.
TRAIN_STAMP := $(VENV)/.installed-train
STEPS ?= 3000  # the default of `earshot wakeword train --steps`
SEED ?= 0
TRAIN_ARGS ?=

.PHONY: train-wakeword models eval-wakeword loso-wakeword

$(TRAIN_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e '.[train]'
	touch $@

train-wakeword: $(TRAIN_STAMP)
	nice -n 10 $(BIN)/python -m host_tools.cli wakeword train "$(WORD)" --steps $(STEPS) --seed $(SEED) $(TRAIN_ARGS)

models: $(TRAIN_STAMP)
	$(MAKE) train-wakeword WORD="alexa" STEPS=3000 SEED=1 TRAIN_ARGS="--data data/wakeword/alexa+dectalk"
	$(MAKE) train-wakeword WORD="hey jarvis" STEPS=3000 SEED=0 TRAIN_ARGS="--max-near-miss 0.10"

SPLIT ?= dev
eval-wakeword: $(STAMP)
	nice -n 10 $(BIN)/python -m host_tools.cli wakeword eval --model "$(WORD)" --split $(SPLIT)

loso-wakeword: $(TRAIN_STAMP)
	nice -n 10 $(BIN)/python -m host_tools.wakeword.loso --word "$(WORD)" --steps $(STEPS)
