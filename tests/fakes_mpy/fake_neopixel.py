# A fake `neopixel` for the MicroPython Unix port: remembers what was written.
WRITTEN = []  # (pin id, (r, g, b)) per write()


class NeoPixel:
    def __init__(self, pin, n):
        self.pin = pin
        self.buf = [(0, 0, 0)] * n

    def __setitem__(self, i, rgb):
        self.buf[i] = rgb

    def __getitem__(self, i):
        return self.buf[i]

    def write(self):
        WRITTEN.append((self.pin.id, self.buf[0]))
