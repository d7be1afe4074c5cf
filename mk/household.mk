# The household's printable LED legend card (docs/led-card.md, its SVG and PNG beside it),
# from host_tools/legend.py; the PNG needs the [docs] extra (cairosvg), installed on first use.
#   make led-card [LED_CARD_DIR=docs]
LED_CARD_DIR ?= docs
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: led-card
$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e '.[docs]'
	touch $@

led-card: $(DOCS_STAMP)
	$(BIN)/python -m host_tools.legend $(LED_CARD_DIR)
