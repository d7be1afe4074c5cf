"""Wake word on the host: the numpy twin of the board's detector, training, scoring, dataset."""
