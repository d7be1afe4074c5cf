"""Earshot host tools: the `earshot` command and its library."""
