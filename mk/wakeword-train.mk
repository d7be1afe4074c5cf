# Wake-word training (docs/wakeword.md).
#   make train-wakeword WORD="alexa"    train on data/wakeword/<slug>/train, write firmware/models/<slug>.*
#   make models                         both models with the current recipe (replaces the shipped ones)
#   make eval-wakeword WORD="alexa" [SPLIT=held]  false rejects / FA per hour / latency, per speaker
#   make loso-wakeword WORD="alexa"     leave each train speaker out in turn (out/loso/<slug>/)
# Training needs the optional [train] extra (torch); scoring and the board do not.
TRAIN_STAMP := $(VENV)/.installed-train
STEPS ?= 8000  # the current recipe (hey jarvis); the shipped alexa is session 1's (docs/wakeword.md)

.PHONY: train-wakeword models eval-wakeword loso-wakeword

$(TRAIN_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e '.[train]'
	touch $@

train-wakeword: $(TRAIN_STAMP)
	nice -n 10 $(BIN)/python -m host_tools.cli wakeword train "$(WORD)" --steps $(STEPS)

models: $(TRAIN_STAMP)
	$(MAKE) train-wakeword WORD="alexa"
	$(MAKE) train-wakeword WORD="hey jarvis"

SPLIT ?= dev
eval-wakeword: $(STAMP)
	nice -n 10 $(BIN)/python -m host_tools.cli wakeword eval --model "$(WORD)" --split $(SPLIT)

loso-wakeword: $(TRAIN_STAMP)
	nice -n 10 $(BIN)/python -m host_tools.wakeword.loso --word "$(WORD)" --steps $(STEPS)
