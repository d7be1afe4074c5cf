"""Augmentation math for the wake-word dataset, in plain numpy.

Every function takes float32 audio in [-1, 1] at 16 kHz and a `numpy.random.Generator`
where randomness is involved, so a clip is a pure function of (TTS output, seed).

Level convention: dBFS here is 20*log10(RMS) of the signal with full scale = 1.0, measured
over the *active* part (the trimmed word), so -20 dBFS speech has RMS 0.1 while it talks.
SNR is active-speech power over the noise power averaged over the whole clip.
"""

import numpy as np

RATE = 16000


# --- levels -----------------------------------------------------------------------------

def rms(x):
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def dbfs(x):
    """RMS level in dBFS (full scale 1.0); -inf for silence."""
    r = rms(x)
    return 20.0 * np.log10(r) if r > 0 else float("-inf")


def set_level(x, target_dbfs, ref=None):
    """Scale `x` so that `ref` (default: x itself) measures `target_dbfs`."""
    r = rms(x if ref is None else ref)
    if r == 0:
        return x.astype(np.float32)
    return (x * (10.0 ** (target_dbfs / 20.0) / r)).astype(np.float32)


def limit_peak(x, peak_dbfs=-1.0):
    """(x scaled so its peak is at most `peak_dbfs`, gain applied in dB (<= 0))."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    limit = 10.0 ** (peak_dbfs / 20.0)
    if peak <= limit:
        return x, 0.0
    return (x * (limit / peak)).astype(np.float32), 20.0 * np.log10(limit / peak)


def active_span(x, rate=RATE, floor_db=-40.0, frame_s=0.01):
    """(start, end) sample indices of the part louder than `floor_db` below the loudest 10 ms.

    TTS output has a little silence at each end; the word's end is where the last frame above
    the floor ends. Returns (0, 0) for an all-zero signal.
    """
    n = max(1, int(rate * frame_s))
    frames = len(x) // n
    if frames == 0:
        return (0, len(x))
    e = np.mean(x[: frames * n].astype(np.float64).reshape(frames, n) ** 2, axis=1)
    peak = e.max()
    if peak <= 0:
        return (0, 0)
    loud = np.nonzero(e >= peak * 10.0 ** (floor_db / 10.0))[0]
    return (int(loud[0] * n), int(min(len(x), (loud[-1] + 1) * n)))


def trim(x, rate=RATE, floor_db=-40.0):
    s, e = active_span(x, rate, floor_db)
    return x[s:e]


# --- resampling and time/pitch -------------------------------------------------------------

def resample(x, rate_in, rate_out):
    """Band-limited resampling through the FFT (exact for periodic signals, fine for clips)."""
    if rate_in == rate_out or len(x) == 0:
        return np.asarray(x, dtype=np.float32)
    n_out = int(round(len(x) * rate_out / rate_in))
    return resample_to(x, n_out)


def resample_to(x, n_out):
    n = len(x)
    # Pad to reduce wrap-around at the ends (the FFT treats the clip as periodic).
    pad = min(n, 1024)
    xp = np.concatenate([x, np.zeros(pad, dtype=np.float64)])
    n_outp = int(round(len(xp) * n_out / n))
    spec = np.fft.rfft(xp)
    keep = n_outp // 2 + 1
    if keep <= len(spec):
        spec = spec[:keep]
    else:
        spec = np.concatenate([spec, np.zeros(keep - len(spec), dtype=spec.dtype)])
    y = np.fft.irfft(spec, n_outp) * (n_outp / len(xp))
    return y[:n_out].astype(np.float32)


def lowpass(x, cutoff_hz, rate=RATE, width_hz=250.0):
    """Everything above `cutoff_hz` removed (a raised-cosine edge `width_hz` wide below it), as
    a voice synthesised at 8 or 11.025 kHz, a phone line or a dull microphone sounds at 16 kHz.
    The length is unchanged, so frame k of the copy is frame k of the original."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0 or cutoff_hz >= rate / 2:
        return x.astype(np.float32)
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / rate)
    lo = cutoff_hz - width_hz
    gain = np.clip((cutoff_hz - f) / width_hz, 0.0, 1.0)
    gain = np.where(f <= lo, 1.0, 0.5 - 0.5 * np.cos(np.pi * gain))
    return np.fft.irfft(spec * gain, len(x)).astype(np.float32)


def band_limit(x, cutoff_hz, rng, floor_dbfs=-70.0):
    """`lowpass` at `cutoff_hz` with white noise at `floor_dbfs` under it: the top band holds
    a microphone's floor, not digital silence."""
    return lowpass(x, cutoff_hz) + white_noise(len(x), rng) * 10.0 ** (floor_dbfs / 20.0)


def time_stretch(x, rate, frame=512, tolerance=128):
    """WSOLA: change tempo by `rate` (>1 faster/shorter) keeping pitch. len(y) == round(len(x)/rate).

    Output frames (Hann window, hop frame/2: constant overlap-add) are centred at k*hop; the
    analysis frame for output frame k is centred near k*hop*rate, moved by up to +-tolerance
    to where it best continues the previously chosen frame (no phase clicks).
    """
    x = np.asarray(x, dtype=np.float32)
    if abs(rate - 1.0) < 1e-6 or len(x) < frame * 2:
        return x.copy()
    hop = frame // 2
    win = np.hanning(frame + 1)[:frame].astype(np.float32)
    n_out = int(round(len(x) / rate))
    n_frames = (n_out + hop) // hop + 2
    base = frame + tolerance  # zeros in front of x inside xp
    xp = np.concatenate([np.zeros(base, np.float32), x,
                         np.zeros(3 * frame + 2 * tolerance, np.float32)])
    xp_max = len(xp) - frame
    y = np.zeros(n_frames * hop + frame, np.float32)  # y[i] is output time i - hop
    norm = np.zeros_like(y)
    prev = None
    for k in range(n_frames):
        nominal = min(xp_max - tolerance, base + int(round(k * hop * rate)) - hop)
        if prev is None:
            pos = nominal
        else:
            natural = xp[prev + hop: prev + hop + frame]
            lo = max(0, nominal - tolerance)
            seg = xp[lo: min(len(xp), nominal + tolerance + frame)]
            pos = lo + int(np.argmax(np.correlate(seg, natural, mode="valid")))
        y[k * hop: k * hop + frame] += xp[pos: pos + frame] * win
        norm[k * hop: k * hop + frame] += win
        prev = pos
    y = y / np.maximum(norm, 1e-3)
    return y[hop: hop + n_out].astype(np.float32)


def pitch_shift(x, semitones, frame=512):
    """Shift pitch by `semitones` keeping duration: resample, then WSOLA back to length."""
    if abs(semitones) < 1e-6:
        return np.asarray(x, dtype=np.float32).copy()
    factor = 2.0 ** (semitones / 12.0)
    shorter = resample_to(x, int(round(len(x) / factor)))  # played at RATE: higher, shorter
    y = time_stretch(shorter, 1.0 / factor, frame=frame)
    if len(y) < len(x):
        y = np.concatenate([y, np.zeros(len(x) - len(y), np.float32)])
    return y[: len(x)]


# --- noise --------------------------------------------------------------------------------

def white_noise(n, rng):
    return rng.standard_normal(n).astype(np.float32)


def pink_noise(n, rng):
    """1/f power spectrum noise by shaping white noise in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spec / np.sqrt(f), n)
    return (y / (rms(y) or 1.0)).astype(np.float32)


def brown_noise(n, rng):
    y = np.cumsum(rng.standard_normal(n))
    y -= np.linspace(y[0], y[-1], n)  # no drift
    return (y / (rms(y) or 1.0)).astype(np.float32)


def hum(n, rng, rate=RATE):
    """Mains hum with harmonics (50 or 60 Hz) and a little noise: a fridge, a transformer."""
    f0 = rng.choice([50.0, 60.0])
    t = np.arange(n) / rate
    y = sum((0.6 ** h) * np.sin(2 * np.pi * f0 * (h + 1) * t + rng.uniform(0, 6.28)) for h in range(5))
    y = y + 0.05 * rng.standard_normal(n)
    return (y / rms(y)).astype(np.float32)


def babble(n, rng, pool, talkers=(3, 6)):
    """Several overlapping talkers cut from `pool` (a long float32 speech signal)."""
    k = int(rng.integers(talkers[0], talkers[1] + 1))
    y = np.zeros(n, np.float32)
    for _ in range(k):
        if len(pool) <= n:
            seg = np.resize(pool, n)
        else:
            s = int(rng.integers(0, len(pool) - n))
            seg = pool[s: s + n]
        y += set_level(seg, 0.0) * rng.uniform(0.5, 1.0)
    return (y / (rms(y) or 1.0)).astype(np.float32)


def make_noise(kind, n, rng, babble_pool=None):
    if kind == "white":
        return white_noise(n, rng)
    if kind == "pink":
        return pink_noise(n, rng)
    if kind == "brown":
        return brown_noise(n, rng)
    if kind == "hum":
        return hum(n, rng)
    if kind == "babble":
        if babble_pool is None:
            raise ValueError("babble noise needs a pool of speech")
        return babble(n, rng, babble_pool)
    raise ValueError("unknown noise kind %r" % kind)


def add_noise(x, noise, snr_db, ref=None):
    """x + noise scaled so that power(ref or x) / power(noise) = snr_db. Returns the mix."""
    s = rms(x if ref is None else ref)
    nr = rms(noise)
    if s == 0 or nr == 0:
        return x.astype(np.float32)
    g = s / (nr * 10.0 ** (snr_db / 20.0))
    return (x + g * noise[: len(x)]).astype(np.float32)


# --- reverb -------------------------------------------------------------------------------

def room_impulse(rng, rt60=None, rate=RATE):
    """A synthetic room: direct path, a few early reflections, exponentially decaying tail.

    Tail energy decays 60 dB over rt60 seconds (0.2-0.8 s drawn when not given).
    """
    rt60 = float(rng.uniform(0.2, 0.8)) if rt60 is None else rt60
    n = int(rate * rt60 * 1.2)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 60 dB
    predelay = int(rate * rng.uniform(0.003, 0.015))
    tail[:predelay] = 0.0
    h = 0.4 * tail / np.sqrt(np.sum(tail ** 2))
    h[0] = 1.0
    for _ in range(int(rng.integers(3, 7))):  # early reflections, 2-25 ms
        h[int(rate * rng.uniform(0.002, 0.025))] += rng.uniform(-0.5, 0.5)
    return h.astype(np.float32), rt60


def convolve(x, h):
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[: len(x)]
    return y.astype(np.float32)


# --- int16 --------------------------------------------------------------------------------

def to_int16(x):
    """Float -> int16 with clipping (the levels used keep peaks far below full scale)."""
    return np.clip(np.round(np.asarray(x) * 32767.0), -32768, 32767).astype(np.int16)


# --- speaker and microphone -----------------------------------------------------------------

def world_perturb(x, vtl, f0_scale, rate=RATE):
    """A new speaker from any utterance with the WORLD vocoder (`pyworld`, the [voices] extra):
    the spectral envelope's frequency axis is warped by `vtl` (vocal tract length: > 1 moves the
    formants up, a shorter tract; 0.92-1.15 keeps words intact) and F0 is scaled by `f0_scale`.
    Deterministic: WORLD has no random state."""
    import pyworld
    x64 = np.asarray(x, np.float64)
    if len(x64) < rate // 10:
        return np.asarray(x, np.float32)
    f0, sp, ap = pyworld.wav2world(x64, rate)
    n = sp.shape[1]
    src = np.arange(n) / vtl  # envelope at f is the original's at f / vtl
    sp2 = np.empty_like(sp)
    for i in range(sp.shape[0]):
        sp2[i] = np.interp(src, np.arange(n), sp[i], right=sp[i, -1])
    y = pyworld.synthesize(f0 * f0_scale, sp2, ap, rate)[: len(x64)]
    if len(y) < len(x64):
        y = np.concatenate([y, np.zeros(len(x64) - len(y))])
    return set_level(y.astype(np.float32), dbfs(x)) if rms(x) > 0 else y.astype(np.float32)


def spectral_tilt(x, db_per_octave, rate=RATE, pivot_hz=1000.0, limit_db=15.0):
    """A microphone/room colouring: gain of `db_per_octave` x log2(f / pivot), clamped to
    +-limit_db (through the FFT, zero phase)."""
    n = len(x)
    if n == 0 or db_per_octave == 0:
        return np.asarray(x, np.float32)
    f = np.fft.rfftfreq(n, 1.0 / rate)
    g_db = np.clip(db_per_octave * np.log2(np.maximum(f, 50.0) / pivot_hz), -limit_db, limit_db)
    return np.fft.irfft(np.fft.rfft(x) * 10.0 ** (g_db / 20.0), n).astype(np.float32)
