"""What leaves a board: signed sessions and captures, the transparency log, recording."""
