"""A pilot tone that says where every sample came from, and a check for silent splices.

The pilot is a sawtooth whose sample n is ((n * STEP) mod 32768) - 16384: loud (the VAD hears
speech), about 604 Hz, and any two neighbouring samples differ by exactly STEP (mod 32768). If
audio is lost between two samples the receiver holds as neighbours, their difference is
STEP * (lost + 1), never STEP for a loss shorter than two seconds: a splice shows.

A session may lose audio honestly: the board marks it by skipping a chunk index
(firmware/earshot/stream.py), and the receiver sees the gap. A *silent* splice is a break in the
pilot inside one run of consecutive chunk indices, with the pilot on both sides of it.
"""

from dataclasses import dataclass

import numpy as np

from ..records import sessions

STEP = 1237  # odd: n -> n * STEP mod 32768 is one-to-one
_PERIOD = 32768
_SIDE = 8  # samples of unbroken pilot needed on each side of a break to call it a splice


def pilot(seconds, start=0, rate=16000):
    """int16 LE PCM of the pilot, from sample `start` on."""
    n = np.arange(start, start + int(seconds * rate), dtype=np.int64)
    return ((n * STEP) % _PERIOD - _PERIOD // 2).astype("<i2").tobytes()


@dataclass
class Continuity:
    sessions: int = 0
    splices: int = 0  # breaks in the pilot inside consecutive chunks: audio lost unmarked
    gaps: int = 0  # chunk indices skipped: audio the board lost and said so
    pilot_samples: int = 0  # samples that continue the pilot (how much was checked)

    def add(self, other):
        self.sessions += other.sessions
        self.splices += other.splices
        self.gaps += other.gaps
        self.pilot_samples += other.pilot_samples


def runs_of(records):
    """Session records -> per session, the PCM of each run of consecutive chunk indices, and
    the number of indices skipped."""
    out = []
    runs, gaps, last = None, 0, None
    for data in records:
        rec = sessions.parse_record(data)
        if data[0] == sessions.HEADER:
            runs, gaps, last = [], 0, None
        elif data[0] == sessions.CHUNK and runs is not None:
            if last is None or rec.index != last + 1:
                if last is not None:
                    gaps += rec.index - last - 1
                elif rec.index:
                    gaps += rec.index
                runs.append(bytearray())
            runs[-1] += rec.pcm
            last = rec.index
        elif data[0] == sessions.CLOSE and runs is not None:
            if last is not None and rec.count > last + 1:
                gaps += rec.count - last - 1
            out.append(([bytes(r) for r in runs], gaps))
            runs = None
    return out


def check(records):
    """Count silent splices and marked gaps in the sessions of a stream of records."""
    result = Continuity()
    for runs, gaps in runs_of(records):
        result.sessions += 1
        result.gaps += gaps
        for pcm in runs:
            x = np.frombuffer(pcm, dtype="<i2").astype(np.int64)
            if len(x) < 2:
                continue
            ok = (x[1:] - x[:-1]) % _PERIOD == STEP
            result.pilot_samples += int(ok.sum())
            for j in np.flatnonzero(~ok):
                before = ok[max(0, j - _SIDE):j]
                after = ok[j + 1:j + 1 + _SIDE]
                if len(before) == _SIDE and len(after) == _SIDE and before.all() and after.all():
                    result.splices += 1
    return result
