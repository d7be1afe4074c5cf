"""Per-frame processing time of a virtual board, kept as histograms (a 24 h soak is 4.3 M frames).

`busy` is board time between the firmware getting a frame and asking for the next one: what its
serial and flash writes cost (the virtual board does not model CPU time; `make bench-cost` counts
that). `wall` is the PC's time for the same span: the MicroPython process's own work.
"""


class Histogram:
    """Counts of values (us) in buckets of `width` us; everything above `top` in the last."""

    def __init__(self, width, top):
        self.width = width
        self.top = top
        self.counts = [0] * (top // width + 1)
        self.n = 0
        self.max = 0

    def add(self, us):
        self.n += 1
        if us > self.max:
            self.max = us
        self.counts[min(int(us) // self.width, len(self.counts) - 1)] += 1

    def percentile(self, p):
        """Upper edge of the bucket holding the p-th percentile (0-100), in us."""
        if not self.n:
            return 0
        need = p / 100.0 * self.n
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= need and c:
                return min((i + 1) * self.width, self.max)
        return self.max

    def summary(self):
        return {"frames": self.n, "median_us": self.percentile(50), "p99_us": self.percentile(99),
                "max_us": self.max}


class FrameStats:
    def __init__(self):
        self.reset()

    def reset(self):
        self.busy = Histogram(100, 2_000_000)  # board time, 0.1 ms buckets up to 2 s
        self.wall = Histogram(10, 200_000)  # PC time, 10 us buckets up to 0.2 s

    def summary(self):
        return {"board": self.busy.summary(), "pc": self.wall.summary()}
