"""Count the detector's loop trips by running the firmware's own source, instrumented, in CPython.

The independent check of `cost.schedule`: the same files the board runs
(firmware/earshot/ww_front.py, ww_model.py, ww_bounds.py, wakeword.py) are parsed, every `while`/`for` inside
a @micropython.viper/native function gets two counters (entries, iterations), and the detector
is fed real audio. The viper-only names are shimmed: `micropython.viper` wraps each ptr8/16/32
argument in a view that loads zero-extended and stores truncated, as viper does; ints are
Python's, which is exact because every intermediate stays inside int32 (features.py, model.py).
"""

import ast
import sys
import types
from collections import defaultdict

from host_tools.resources import firmware_dir

FIRMWARE = firmware_dir() / "earshot"
VIPER_MODULES = ("ww_front", "ww_model")


class _Ptr:
    """A viper pointer: index i reads/writes the i-th `width`-byte element from its address.

    int(p) is the buffer's real address (viper's int(ptr)), and ptr8/16/32(address) finds the
    buffer again among those the viper functions were given, so pointer arithmetic works.
    """

    def __init__(self, region, width, offset=0):
        self._start, self._mv = region
        self._w = width
        self._off = offset
        self._mask = (1 << (8 * width)) - 1

    def __int__(self):
        return self._start + self._off

    __index__ = __int__

    def _at(self, i):
        a = self._off + i * self._w
        if not 0 <= a <= len(self._mv) - self._w:
            raise IndexError("viper access outside its buffer at %#x" % (self._start + a))
        return a

    def __getitem__(self, i):
        a = self._at(i)
        return int.from_bytes(self._mv[a:a + self._w], "little")

    def __setitem__(self, i, v):
        a = self._at(i)
        self._mv[a:a + self._w] = (v & self._mask).to_bytes(self._w, "little")


_REGIONS = []  # (start address, byte memoryview) of every buffer handed to a viper function


def _region_of(buf):
    import numpy as np

    mv = memoryview(buf).cast("B")
    start = int(np.frombuffer(mv, np.uint8).ctypes.data) if len(mv) else 0
    for r in _REGIONS:
        if r[0] == start and len(r[1]) == len(mv):
            return r
    r = (start, mv)
    _REGIONS.append(r)
    return r


def _cast(v, width):
    if isinstance(v, _Ptr):
        v = int(v)
    if not isinstance(v, int):
        return _Ptr(_region_of(v), width)
    for start, mv in reversed(_REGIONS):  # the newest buffer at that address
        if start <= v <= start + len(mv):
            return _Ptr((start, mv), width, v - start)
    # a cursor one step past its buffer, as loops leave them: fine until something reads it
    return _Ptr((v, memoryview(b"")), width)


class ptr8:  # noqa: N801 (viper's names): the annotation, and the cast ptr8(address)
    width = 1

    def __new__(cls, v):
        return _cast(v, cls.width)


class ptr16(ptr8):  # noqa: N801
    width = 2


class ptr32(ptr8):  # noqa: N801
    width = 4


def _micropython_shim(counts):
    def viper(fn):
        ann = fn.__annotations__
        names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
        key = "%s.%s" % (fn.__globals__["__name__"].rsplit(".", 1)[-1], fn.__name__)

        def wrapper(*args):
            counts[key][0] += 1
            conv = []
            for name, a in zip(names, args):
                kind = ann.get(name)
                conv.append(_cast(a, kind.width) if kind in (ptr8, ptr16, ptr32) else a)
            return fn(*conv)

        wrapper.__name__ = fn.__name__
        return wrapper

    mod = types.ModuleType("micropython")
    mod.viper = mod.native = viper
    mod.const = lambda v: v
    return mod


def _is_native(fn):
    for d in fn.decorator_list:
        if isinstance(d, ast.Attribute) and d.attr in ("viper", "native"):
            return True
    return False


class _Instrument(ast.NodeTransformer):
    """Before each loop: entries += 1; first thing in its body: iterations += 1."""

    def __init__(self, module):
        self.module = module
        self.func = None
        self.k = 0

    def visit_FunctionDef(self, node):
        if not _is_native(node):
            return node
        self.func, self.k = node.name, 0
        self.generic_visit(node)
        return node

    def _counter(self, key, field):
        code = "__loops__[%r][%d] += 1" % (key, field)
        return ast.parse(code).body[0]

    def _loop(self, node):
        key = "%s.%s#%d" % (self.module, self.func, self.k)
        self.k += 1
        self.generic_visit(node)
        node.body.insert(0, self._counter(key, 1))
        return [self._counter(key, 0), node]

    visit_While = _loop
    visit_For = _loop


def load(counts):
    """Import the firmware's detector modules into CPython, loops counted into `counts`.

    Returns the `earshot.wakeword` module. counts: defaultdict(lambda: [0, 0]) keyed by
    "module.function#k", k the loop's index in source order; also counts calls per function.
    """
    names = ("ww_bounds",) + VIPER_MODULES + ("wakeword",)
    saved = {k: sys.modules.get(k) for k in ("micropython", "earshot")
             + tuple("earshot." + n for n in names)}
    _REGIONS.clear()
    pkg = types.ModuleType("earshot")
    pkg.__path__ = []
    sys.modules["micropython"] = _micropython_shim(counts)
    sys.modules["earshot"] = pkg
    try:
        for name in names:
            path = FIRMWARE / (name + ".py")
            tree = ast.parse(path.read_text(), str(path))
            if name in VIPER_MODULES:
                tree = ast.fix_missing_locations(_Instrument(name).visit(tree))
            mod = types.ModuleType("earshot." + name)
            mod.__file__ = str(path)
            mod.__loops__ = counts
            mod.ptr8, mod.ptr16, mod.ptr32 = ptr8, ptr16, ptr32  # viper's built-in names
            sys.modules[mod.__name__] = mod
            exec(compile(tree, str(path), "exec"), mod.__dict__)
            setattr(pkg, name, mod)
        return sys.modules["earshot.wakeword"]
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def trips_per_hop(model_path, manifest_path, pcm, hops_skip=3):
    """{"module.function#k": (entries, iterations) per hop, "module.function": (calls, 0)},
    averaged over the hops of `pcm` (int16 samples) after the first `hops_skip`."""
    counts = defaultdict(lambda: [0, 0])
    ww = load(counts)
    det = ww.Detector(str(model_path), str(manifest_path))
    frame = bytearray(640)
    n = len(pcm) // 320
    for h in range(n):
        frame[:] = pcm[h * 320:(h + 1) * 320].astype("<i2").tobytes()
        if h == hops_skip:
            counts.clear()
        det.feed(frame)
    hops = n - hops_skip
    return {k: (v[0] / hops, v[1] / hops) for k, v in counts.items()}


def glue_per_hop(model_path, manifest_path, pcm, hops_skip=3):
    """The interpreted glue of one hop: (bytecode operations, calls into viper functions).

    Every function of the detector's modules that is not viper/native (Detector.feed,
    Frontend.step, Model.step, ...) is traced opcode by opcode (CPython's f_trace_opcodes);
    CPython's bytecode stands in for MicroPython's, which is of the same kind (a stack machine
    compiled from the same source) but not the same count: the caller states the ratio's range.
    """
    counts = defaultdict(lambda: [0, 0])
    ww = load(counts)
    native = set()
    for name in ("ww_bounds",) + VIPER_MODULES + ("wakeword",):
        path = FIRMWARE / (name + ".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and _is_native(node):
                native.add((str(path), node.name))
    root = str(FIRMWARE)
    ops = [0]

    def local(frame, event, arg):
        if event == "opcode":
            ops[0] += 1
        return local

    def tracer(frame, event, arg):
        code = frame.f_code
        if not code.co_filename.startswith(root) or (code.co_filename, code.co_name) in native:
            return None
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return local

    det = ww.Detector(str(model_path), str(manifest_path))
    frame = bytearray(640)
    n = len(pcm) // 320
    viper_calls = 0
    for h in range(n):
        frame[:] = pcm[h * 320:(h + 1) * 320].astype("<i2").tobytes()
        if h == hops_skip:
            ops[0] = 0
            counts.clear()
        if h >= hops_skip:
            sys.settrace(tracer)
        try:
            det.feed(frame)
        finally:
            sys.settrace(None)
    hops = n - hops_skip
    viper_calls = sum(v[0] for k, v in counts.items() if "#" not in k)
    return ops[0] / hops, viper_calls / hops
