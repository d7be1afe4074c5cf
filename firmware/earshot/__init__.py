# Earshot firmware application package (runs on the ESP32-S3 and on the virtual board).
VERSION = "0.1.0"
PROTOCOL = 1
