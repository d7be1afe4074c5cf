"""A band-limited copy of a dataset split, for engines that score WAV files (the anchors of
`make bench-wakeword`); Earshot's own `earshot wakeword eval --lowpass HZ` needs no copy.

    python -m host_tools.wakeword.band_copy --from data/wakeword/alexa --split held \\
        --out data/wakeword/alexa-band

Every clip of the split, negatives too, is cut off at 3800 Hz (even lines of the manifest: a
voice made at 8 kHz) or 5300 Hz (odd lines: at 11.025 kHz), with a -70 dBFS floor of white noise
under it, seeded by the line number, so a copy is the same on every machine. The manifest
keeps every field and adds `cutoff_hz`. Then:

    python -m host_tools.wakeword.bench --words alexa --data data/wakeword/alexa-band --split held
"""

import argparse
import json
import os
import shutil
import sys
import wave

import numpy as np

from ..errors import EarshotError
from . import augment as A
from .dataset_render import write_wav
from .train import BAND_FLOOR_DBFS, read_wav

CUTOFFS_HZ = (3800.0, 5300.0)


def _read(path):
    """float32 samples of a 16 kHz mono int16 WAV, or EarshotError naming the file."""
    try:
        return read_wav(path).astype(np.float32) / 32768
    except (wave.Error, EOFError) as e:
        raise EarshotError("%s: not a WAV file (%s)" % (path, e)) from None


def copy_split(src_root, split, out_root, log=print):
    """Write `out_root/split` (WAVs and manifest); returns the number of clips."""
    src = os.path.join(src_root, split)
    dst = os.path.join(out_root, split)
    manifest = os.path.join(src, "manifest.jsonl")
    if not os.path.isfile(manifest):
        raise EarshotError("%s has no manifest.jsonl" % src)
    if os.path.lexists(dst):
        raise EarshotError("%s already exists; give a new --out (nothing is overwritten)" % dst)
    tmp = dst + ".building"
    if os.path.lexists(tmp):
        raise EarshotError("%s already exists (left by a run that stopped?); remove it" % tmp)
    lines = open(manifest).read().splitlines()
    try:
        out = [_copy_clip(src, tmp, i, line) for i, line in enumerate(lines)]
        with open(os.path.join(tmp, "manifest.jsonl"), "w") as f:
            f.write("\n".join(out) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # made by this run (a leftover one is refused)
        raise
    os.rename(tmp, dst)
    log("%s: %d clips" % (split, len(out)))
    return len(out)


def _copy_clip(src, tmp, i, line):
    """Manifest line `i` cut off at its cutoff into `tmp`; returns the new line."""
    try:
        e = json.loads(line)
        rel = e["file"]
    except (ValueError, KeyError, TypeError):
        raise EarshotError("manifest line %d is not a clip entry: %.60s" % (i + 1, line)) from None
    x = _read(os.path.join(src, rel))
    cutoff = CUTOFFS_HZ[i % 2]
    write_wav(os.path.join(tmp, rel),
              A.band_limit(x, cutoff, np.random.default_rng(i), BAND_FLOOR_DBFS))
    e["cutoff_hz"] = cutoff
    return json.dumps(e, sort_keys=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.wakeword.band_copy",
                                description="a band-limited copy of a dataset split")
    p.add_argument("--from", dest="src", required=True, help="dataset root")
    p.add_argument("--split", default="held")
    p.add_argument("--out", required=True, help="dataset root for the copy")
    a = p.parse_args(argv)
    try:
        n = copy_split(a.src, a.split, a.out, log=lambda m: print(m, file=sys.stderr))
    except (EarshotError, OSError, ValueError) as e:
        print("band_copy: %s" % e, file=sys.stderr)
        return 1
    print("%d clips in %s" % (n, os.path.join(a.out, a.split)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
