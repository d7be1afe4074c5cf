"""The link to a board: its serial port and Earshot protocol v1 (docs/protocol.md)."""
