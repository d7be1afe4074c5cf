# Wake-word frontend: 20 ms of int16 PCM in, one frame of 32 log-mel features (0..127) out.
#
# Fixed point throughout, in viper; host_tools/wakeword/features.py is the numpy reference of
# the very same arithmetic and documents why every intermediate stays inside int32 (the board's
# viper ints are 32 bits, the Unix port's 64: staying inside int32 makes them agree bit for bit).
#
# Viper loads from ptr8/ptr16/ptr32 are zero-extended, so signed values are sign-extended by hand
# with (v ^ 0x8000) - 0x8000; int32 arrays only ever hold non-negative values. The FFT's complex
# values live interleaved (re, im) in one uint16 array, offset by 32768 ("biased"), so a load is
# one subtraction and butterflies can keep the offset (see _fft).
#
# Viper keeps only a function's first two locals in registers (a4, a5 on xtensawin; upstream
# py/emitnative.c MAX_REGS_FOR_LOCAL_VARS), every other local on the stack, so hot loops walk
# two cursors passed as the first two arguments and read at constant offsets from them.
import micropython
from micropython import const

_WIN = const(512)
_HOP = const(320)
_NBINS = const(257)
_NBANDS = const(32)
_FEAT_OFFSET = const(320)
_BIAS = const(32768)  # offset of the FFT's stored values

# round(64 * (log2(1 + f) - f)) for each 1/16 of an octave (same literal as the host reference)
_LOG_CORR = b"\x01\x02\x03\x04\x05\x05\x05\x05\x05\x05\x05\x04\x03\x02\x02\x01"


@micropython.viper
def _ingest(pcm: ptr16, ring: ptr16, pos: int, peak: ptr32) -> int:
    # copy one hop of samples into the 512-sample ring; return the new write position, which is
    # also where the current frame's oldest sample sits. On the way, max|x| of the hop's first
    # 128 samples and of its last 192, the part the next frame still holds (512 = 320 + 192):
    # peak[0] the previous hop's last 192 (what the frame keeps of it), peak[1] this whole hop,
    # so the frame's max|x| is max(peak[0], peak[1]) without reading the ring again (_window).
    # pcm walks the hop (a register); |x| of a stored int16 v is v, or 65536 - v when negative.
    # Two copies of the loop, not one with a test per sample or a helper called twice: this
    # runs 320 times a hop (make bench-cost counts each loop).
    end = int(pcm) + 2 * (_HOP - (_WIN - _HOP))
    m = 0
    while int(pcm) < end:
        v = pcm[0]
        ring[pos] = v
        pos = (pos + 1) & 511
        if v >= 0x8000:
            v = 0x10000 - v
        if v > m:
            m = v
        pcm = ptr16(int(pcm) + 2)
    end = end + 2 * (_WIN - _HOP)
    t = 0
    while int(pcm) < end:
        v = pcm[0]
        ring[pos] = v
        pos = (pos + 1) & 511
        if v >= 0x8000:
            v = 0x10000 - v
        if v > t:
            t = v
        pcm = ptr16(int(pcm) + 2)
    if t > m:
        m = t
    peak[0] = peak[2]
    peak[1] = m
    peak[2] = t
    return pos


@micropython.viper
def _window(win: ptr16, rev: ptr16, ring: ptr16, start: int, z: ptr16, peak: ptr32) -> int:
    # block floating point: the largest left shift s <= 14 with max|x| << s <= 16383; max|x|
    # over the frame comes from _ingest (the same value a pass over the ring would find).
    # win and rev walk their tables (registers); rev holds each sample's bit-reversed slot in z
    # as an index of z's uint16 cells (2 per complex value).
    m = peak[0]
    if peak[1] > m:
        m = peak[1]
    s = 0
    while s < 14 and (m << (s + 1)) <= 16383:
        s += 1
    end = int(win) + 2 * _WIN
    while int(win) < end:
        v = ring[start]
        v = (v ^ 0x8000) - 0x8000
        w = win[0]
        w = (w ^ 0x8000) - 0x8000
        # the real part; the input has no imaginary part, which _fft's first stage knows
        z[rev[0]] = (((v << s) * w) >> 15) + _BIAS
        start = (start + 1) & 511
        win = ptr16(int(win) + 2)
        rev = ptr16(int(rev) + 2)
    return s


@micropython.viper
def _fft(p: ptr16, q: ptr16, twr: ptr16, twi: ptr16):
    # In-place radix-2 DIT on bit-reversed input, each stage scaled by 1/2. p and q are cursors
    # over the interleaved biased values (pass the array twice): p at a, q at its partner b.
    # With A = a + 32768 stored: (a +- t) >> 1 stored biased is (A +- t + 32768) >> 1, exactly
    # (adding 65536 commutes with the floor shift), so a never needs its offset removed.
    z0 = int(p)
    zend = z0 + _WIN * 4
    # Stage 1 (h = 1, twiddle 0 only) on real input: _window stored no imaginary parts, so a
    # and b have bi = ai = 0, and the general butterfly below reduces to these same values
    # (wr * 0 and wi * 0 vanish exactly), its imaginary parts written here for the first time.
    wr = twr[0]
    wr = (wr ^ 0x8000) - 0x8000
    wi = twi[0]
    wi = (wi ^ 0x8000) - 0x8000
    while int(p) < zend:
        q = ptr16(int(p) + 4)
        br = q[0] - _BIAS
        tr = (wr * br) >> 15
        ti = (wi * br) >> 15
        q[0] = (p[0] - tr + _BIAS) >> 1
        q[1] = (_BIAS - ti + _BIAS) >> 1
        p[1] = (_BIAS + ti + _BIAS) >> 1
        p[0] = (p[0] + tr + _BIAS) >> 1
        p = ptr16(int(q) + 4)
    h = 2
    step = 128
    while h < _WIN:
        hb = h * 4
        j = 0
        while j < h:
            wr = twr[j * step]
            wr = (wr ^ 0x8000) - 0x8000
            wi = twi[j * step]
            wi = (wi ^ 0x8000) - 0x8000
            p = ptr16(z0 + j * 4)
            while int(p) < zend:
                q = ptr16(int(p) + hb)
                br = q[0] - _BIAS
                bi = q[1] - _BIAS
                tr = (wr * br - wi * bi) >> 15
                ti = (wr * bi + wi * br) >> 15
                # b's new values first, while p still holds a (a load from p is one l16ui)
                q[0] = (p[0] - tr + _BIAS) >> 1
                q[1] = (p[1] - ti + _BIAS) >> 1
                p[0] = (p[0] + tr + _BIAS) >> 1
                p[1] = (p[1] + ti + _BIAS) >> 1
                p = ptr16(int(q) + hb)
            j += 1
        h <<= 1
        step >>= 1


@micropython.viper
def _mel(z: ptr16, seg: ptr8, wq: ptr8, energy: ptr32):
    b = 0
    while b <= _NBANDS:
        energy[b] = 0
        b += 1
    k = 0
    while k < _NBINS:
        b = seg[k]
        if b < 128:  # 255 (-1) marks bins outside every band
            r = z[2 * k] - _BIAS
            q = z[2 * k + 1] - _BIAS
            p = (r * r + q * q) >> 2
            w = wq[k]
            energy[b] = energy[b] + p * w
            if b >= 1:
                energy[b - 1] = energy[b - 1] + p * (16 - w)
        k += 1


@micropython.viper
def _log(energy: ptr32, s: int, corr: ptr8, out: ptr8):
    b = 0
    while b < _NBANDS:
        v = energy[b] + 1
        n = 0
        t = v
        if t >= 65536:
            t >>= 16
            n += 16
        if t >= 256:
            t >>= 8
            n += 8
        if t >= 16:
            t >>= 4
            n += 4
        if t >= 4:
            t >>= 2
            n += 2
        if t >= 2:
            n += 1
        if n >= 6:
            f = (v >> (n - 6)) & 63
        else:
            f = (v << (6 - n)) & 63
        q = n * 64 + f + int(corr[f >> 2]) - 128 * s
        q = (q + _FEAT_OFFSET) >> 4
        if q < 0:
            q = 0
        if q > 127:
            q = 127
        out[b] = q
        b += 1


class Frontend:
    """Streaming features: `step(pcm, out)` turns 320 samples into 32 features, constant work."""

    def __init__(self, window, tw_re, tw_im, mel_seg, mel_w):
        # tables are memoryviews into the model file (little-endian int16 / int8 / uint8)
        self._win = window
        self._twr = tw_re
        self._twi = tw_im
        self._seg = mel_seg
        self._wq = mel_w
        self._ring = bytearray(_WIN * 2)
        self._z = bytearray(_WIN * 4)  # complex values: re, im interleaved, biased uint16
        self._energy = bytearray((_NBANDS + 1) * 4)
        self._peak = bytearray(3 * 4)  # max|x|: previous hop's tail, this hop, its tail
        self._rev = bytearray(_WIN * 2)
        for i in range(_WIN):
            r = 0
            v = i
            for _ in range(9):
                r = (r << 1) | (v & 1)
                v >>= 1
            r *= 2  # the uint16 cell of the real part of z[r]
            self._rev[2 * i] = r & 255
            self._rev[2 * i + 1] = r >> 8
        self._pos = 0

    def reset(self):
        for i in range(_WIN * 2):
            self._ring[i] = 0
        for i in range(3 * 4):
            self._peak[i] = 0
        self._pos = 0

    def step(self, pcm, out):
        self._pos = _ingest(pcm, self._ring, self._pos, self._peak)
        s = _window(self._win, self._rev, self._ring, self._pos, self._z, self._peak)
        _fft(self._z, self._z, self._twr, self._twi)
        _mel(self._z, self._seg, self._wq, self._energy)
        _log(self._energy, s, _LOG_CORR, out)
