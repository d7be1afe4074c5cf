# What a wake-word model must satisfy before the detector runs it, checked once when it loads.
#
# The board's viper ints are 32 bits and nothing traps on overflow, so the int32 proofs in
# host_tools/wakeword/features.py and model.py only hold for models inside their premises; the
# viper loops also trust every tensor's size and alignment. A model outside them would compute
# different scores on the board than on the host (or read past its buffers), so it is refused:
#
#   shapes     the frontend constants ww_front.py is built for (512-sample window and FFT,
#              320-sample hop, 32 bands, feature offset 320, shift <= 14 to 16383); channels
#              and features multiples of 4; n_in <= 162, so n_in*127*127 + 2^19 < 2^21.3
#   tensors    inside the file, offsets divisible by 4 (ptr16 loads must be aligned on the
#              ESP32-S3), sizes matching the shapes (the loops read exactly that many bytes)
#   requant    per output channel |bias| <= 2^19, M <= 511, 1 <= S <= 30: |acc*M| < 2^30
#   mel        band index -1..32 (energy has 33 slots), Q4 weight 0..16 (E_b <= 16 * sum p)
#   smooth     1..255 hops of 0..254 in a bytearray
_BIAS_LIMIT = 1 << 19
_M_MAX = 511
_S_MIN = 1
_S_MAX = 30
_NIN_MAX = 162  # (162 * 127 * 127 + 2^19) * 511 + 2^29 < 2^31

# what ww_front.py is compiled for (its _WIN, _HOP, _NBANDS, _FEAT_OFFSET and the 14/16383
# of its block scaling)
_FRONTEND = (("win", 512), ("nfft", 512), ("hop", 320), ("bands", 32), ("feat_offset", 320),
             ("max_shift", 14), ("scale_target", 16383))


class ModelError(ValueError):
    pass


def _fail(path, why):
    raise ModelError("%s: %s" % (path, why))


def check(path, man, blob):
    """Raise ModelError naming the first premise the model at `path` breaks."""
    feat = man["features"]
    for key, want in _FRONTEND:
        if feat.get(key) != want:
            _fail(path, "features %s is %r, the board's frontend needs %r" % (key, feat.get(key), want))
    c = man["channels"]
    nfeat = feat["bands"]
    if c < 4 or c % 4 or nfeat % 4:
        _fail(path, "channels (%d) and bands (%d) must be multiples of 4" % (c, nfeat))
    if max(c, 3 * nfeat) > _NIN_MAX:
        _fail(path, "a layer with %d inputs breaks the int32 bound (at most %d)"
              % (max(c, 3 * nfeat), _NIN_MAX))
    if not 1 <= man["smooth"] <= 255:
        _fail(path, "smooth %d is outside 1..255" % man["smooth"])
    size = len(blob)
    for name, (off, n) in man["tensors"].items():
        if off % 4:
            _fail(path, "tensor %s at offset %d is not 4-byte aligned" % (name, off))
        if off < 4 or off + n > size:
            _fail(path, "tensor %s (%d bytes at %d) is outside the %d-byte file" % (name, n, off, size))
    ndil = len(man["dilations"])
    want = {"window": 1024, "tw_re": 512, "tw_im": 512, "mel_seg": 257, "mel_w": 257}
    shapes = [(c, 3 * nfeat)]
    for _ in range(ndil):
        shapes += [(c, 3), (c, c)]
    shapes.append((1, c))
    for li, (nout, nin) in enumerate(shapes):
        want["l%d_w" % li] = nout * nin
        want["l%d_q" % li] = nout * 8
    for name, n in want.items():
        t = man["tensors"].get(name)
        if t is None:
            _fail(path, "tensor %s is missing" % name)
        if t[1] != n:
            _fail(path, "tensor %s has %d bytes, its shape needs %d" % (name, t[1], n))
    if len(man["tensors"]) != len(want):
        _fail(path, "%d tensors, the shapes need %d" % (len(man["tensors"]), len(want)))
    _check_mel(path, man, blob)
    for li, (nout, _) in enumerate(shapes):
        _check_requant(path, "l%d_q" % li, man["tensors"]["l%d_q" % li][0], nout, blob)


def _u16(blob, i):
    return blob[i] | (blob[i + 1] << 8)


def _check_mel(path, man, blob):
    seg = man["tensors"]["mel_seg"][0]
    wq = man["tensors"]["mel_w"][0]
    for k in range(257):
        b = blob[seg + k]
        if b != 255 and b > 32:
            _fail(path, "mel band %d at bin %d (bands are -1..32)" % (b, k))
        if blob[wq + k] > 16:
            _fail(path, "mel weight %d at bin %d (Q4 weights are 0..16)" % (blob[wq + k], k))


def _check_requant(path, name, off, nout, blob):
    for o in range(nout):
        i = off + 8 * o
        bias = _u16(blob, i) + ((((_u16(blob, i + 2)) ^ 0x8000) - 0x8000) << 16)
        m = _u16(blob, i + 4)
        s = _u16(blob, i + 6)
        if bias > _BIAS_LIMIT or bias < -_BIAS_LIMIT:
            _fail(path, "%s channel %d: bias %d outside +-2^19" % (name, o, bias))
        if m > _M_MAX:
            _fail(path, "%s channel %d: multiplier M %d > %d" % (name, o, m, _M_MAX))
        if not _S_MIN <= s <= _S_MAX:
            _fail(path, "%s channel %d: shift S %d outside %d..%d" % (name, o, s, _S_MIN, _S_MAX))
