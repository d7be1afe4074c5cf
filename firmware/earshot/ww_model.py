# Wake-word model: a streaming dilated temporal conv net with int8 weights, int32 accumulators.
#
# host_tools/wakeword/model.py is the numpy reference of the same arithmetic and holds the
# int32 bounds proof (|acc| < 2^21.1, |acc * M| < 2^30). Each hop computes exactly one new
# output frame per layer; past outputs live in per-layer rings, so work per hop is constant.
#
# Weights are offset-binary uint8 (u = w + 128): sum(u * x) - 128 * sum(x) == sum(w * x) with
# activations x in 0..127, which avoids sign-extending every weight in the inner loop.
# Per output channel, the q tensor holds 4 uint16: bias low half, bias high half, M, S.
import micropython


@micropython.viper
def dense(w: ptr8, x: ptr8, nin: int, q: ptr16, out: ptr8, ooff: int, nout: int):
    # out[ooff + o] = relu(requant(sum_i w[o, i] * x[i] + bias[o])), clamped to 0..127.
    # w and x are cursors over the weights (row-major, n_out x n_in) and the input. Viper keeps
    # only a function's first two locals in registers (a4, a5 on xtensawin; py/emitnative.c
    # MAX_REGS_FOR_LOCAL_VARS), the rest on the stack, so the hot loop walks these two and
    # reads at constant offsets (one l8ui each) rather than indexing with stack locals.
    x0 = int(x)
    xend = x0 + nin
    sx = 0
    while int(x) < xend:
        sx += x[0] + x[1] + x[2] + x[3]
        x = ptr8(int(x) + 4)
    sx = sx * 128
    x16 = xend - (nin & 15)  # n_in is a multiple of 4 (checked when the model loads)
    o = 0
    while o < nout:
        x = ptr8(x0)
        acc = 0
        while int(x) < x16:
            acc += (w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + w[3] * x[3]
                    + w[4] * x[4] + w[5] * x[5] + w[6] * x[6] + w[7] * x[7]
                    + w[8] * x[8] + w[9] * x[9] + w[10] * x[10] + w[11] * x[11]
                    + w[12] * x[12] + w[13] * x[13] + w[14] * x[14] + w[15] * x[15])
            w = ptr8(int(w) + 16)
            x = ptr8(int(x) + 16)
        while int(x) < xend:
            acc += w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + w[3] * x[3]
            w = ptr8(int(w) + 4)
            x = ptr8(int(x) + 4)
        acc = acc - sx + ((((q[1] ^ 0x8000) - 0x8000) << 16) + q[0])
        sh = q[3]
        y = (acc * q[2] + (1 << (sh - 1))) >> sh
        if y < 0:
            y = 0
        if y > 127:
            y = 127
        out[ooff + o] = y
        q = ptr16(int(q) + 8)  # the next channel's bias low/high, M, S
        o += 1


@micropython.viper
def depthwise(w: ptr8, q: ptr16, ring: ptr8, o0: int, o1: int, o2: int, out: ptr8, c: int):
    # out[ch] = relu(requant(w0 * x[t-2d] + w1 * x[t-d] + w2 * x[t] + bias)); o0..o2 are the
    # ring offsets of frames t-2d, t-d, t. w and q, the first two locals (registers), walk the
    # weights (3 per channel) and the requantisation words (4 per channel).
    ch = 0
    while ch < c:
        a = ring[o0 + ch]
        b = ring[o1 + ch]
        e = ring[o2 + ch]
        acc = w[0] * a + w[1] * b + w[2] * e - 128 * (a + b + e)
        acc += (((q[1] ^ 0x8000) - 0x8000) << 16) + q[0]
        sh = q[3]
        y = (acc * q[2] + (1 << (sh - 1))) >> sh
        if y < 0:
            y = 0
        if y > 127:
            y = 127
        out[ch] = y
        w = ptr8(int(w) + 3)
        q = ptr16(int(q) + 8)
        ch += 1


@micropython.viper
def head(x: ptr8, nin: int, w: ptr8, q: ptr16) -> int:
    # the logit in 1/4 units (the manifest's logit_q), clamped to -127..127
    acc = 0
    sx = 0
    i = 0
    while i < nin:
        acc += w[i] * x[i]
        sx += x[i]
        i += 1
    hi = q[1]
    acc = acc - 128 * sx + ((((hi ^ 0x8000) - 0x8000) << 16) + q[0])
    sh = q[3]
    y = (acc * q[2] + (1 << (sh - 1))) >> sh
    if y < -127:
        y = -127
    if y > 127:
        y = 127
    return y


@micropython.viper
def shift_in(win: ptr8, n: int, keep: int):
    # drop the oldest n bytes of a window of keep + n bytes (newest data goes at the end)
    i = 0
    while i < keep:
        win[i] = win[i + n]
        i += 1


@micropython.viper
def zero(buf: ptr8, n: int):
    i = 0
    while i < n:
        buf[i] = 0
        i += 1


class Model:
    """Streaming inference: `step(features) -> logit` once per hop, no allocation."""

    def __init__(self, tensors, channels, dilations, nfeat):
        # tensors: name -> memoryview into the model file
        c = channels
        if c % 4 or nfeat % 4:
            raise ValueError("channels and features must be multiples of 4")
        self._c = c
        self._nfeat = nfeat
        self._w = [tensors["l%d_w" % i] for i in range(2 + 2 * len(dilations))]
        self._q = [tensors["l%d_q" % i] for i in range(2 + 2 * len(dilations))]
        self._fwin = bytearray(3 * nfeat)  # conv0 input: frames t-2, t-1, t
        # where the frontend writes the newest frame (a view made once, not per hop)
        self.newest = memoryview(self._fwin)[2 * nfeat:]
        self._d = tuple(dilations)
        self._rings = [bytearray((2 * d + 1) * c) for d in dilations]
        self._pos = [0] * len(dilations)
        self._u = bytearray(c)  # depthwise output
        self._h = bytearray(c)  # last block's output (head input)
        self._nblocks = len(dilations)

    def reset(self):
        zero(self._fwin, len(self._fwin))
        for r in self._rings:
            zero(r, len(r))
        for i in range(self._nblocks):
            self._pos[i] = 0

    def step(self):
        # the caller has just written the newest features into self.newest
        c = self._c
        w = self._w
        q = self._q
        rings = self._rings
        pos = self._pos
        d = self._d
        r = rings[0]
        dense(w[0], self._fwin, 3 * self._nfeat, q[0], r, pos[0] * c, c)
        li = 1
        for b in range(self._nblocks):
            r = rings[b]
            size = 2 * d[b] + 1
            p = pos[b]
            p1 = p - d[b]
            if p1 < 0:
                p1 += size
            p2 = p1 - d[b]
            if p2 < 0:
                p2 += size
            depthwise(w[li], q[li], r, p2 * c, p1 * c, p * c, self._u, c)
            if b + 1 < self._nblocks:
                dense(w[li + 1], self._u, c, q[li + 1], rings[b + 1], pos[b + 1] * c, c)
            else:
                dense(w[li + 1], self._u, c, q[li + 1], self._h, 0, c)
            p += 1
            if p == size:
                p = 0
            pos[b] = p
            li += 2
        logit = head(self._h, c, w[li], q[li])
        shift_in(self._fwin, self._nfeat, 2 * self._nfeat)
        return logit
