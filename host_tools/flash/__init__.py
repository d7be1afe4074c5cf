"""MicroPython onto a real ESP32-S3 with esptool, and Earshot on top (earshot flash)."""
