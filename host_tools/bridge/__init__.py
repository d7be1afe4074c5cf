"""`earshot bridge`: the board as a Wyoming satellite, forwarding only what consent allows."""
