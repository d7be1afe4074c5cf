# The household's printable LED legend card (docs/led-card.{md,svg,png}), from host_tools/legend.py.
.PHONY: led-card
led-card: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[docs]'
	$(BIN)/python -m host_tools.legend docs
