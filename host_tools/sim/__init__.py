"""The virtual Earshot board (see board.py)."""

from .board import VirtualBoard

__all__ = ["VirtualBoard"]
