"""Decode Xtensa (ESP32-S3, LX7, windowed ABI) machine code as mpy-cross emits it.

Debian has binutils for the ESP8266's LX106 core only (`binutils-xtensa-lx106`), a core
configuration without the windowed-register option that xtensawin code is built on (entry,
retw.n, callx8), so this is a small decoder of its own. It covers the base ISA plus the
density (".n"), windowed, 32-bit multiply and MUL16 options: every instruction upstream's
emitter writes (micropython/micropython py/asmxtensa.h, the asm_xtensa_op_* functions and
py/asmxtensa.c's entry/exit/call/branch helpers), and the other base-ISA neighbours of those
encodings, so a new emitter release that starts using, say, addx2 decodes rather than stops.
Anything else raises DecodeError: a count must never silently skip an instruction.

Field layout (little-endian, Xtensa ISA reference manual, "Instruction Formats"):
  24-bit: op0 = bits 0-3, t = 4-7, s = 8-11, r = 12-15, op1 = 16-19, op2 = 20-23, imm8 = 16-23
  16-bit (op0 8..13, density option): op0, t, s, r as above
"""

from dataclasses import dataclass

# flow kinds: how control leaves an instruction
NEXT, BRANCH, JUMP, RETURN, INDIRECT = "next", "branch", "jump", "return", "indirect"


class DecodeError(ValueError):
    pass


@dataclass(frozen=True)
class Insn:
    addr: int
    size: int
    op: str
    args: tuple = ()
    flow: str = NEXT
    target: int | None = None
    mem: str | None = None      # "load" or "store"
    base: int | None = None     # base register of a load/store

    @property
    def is_stack_access(self):
        """A load/store relative to the stack pointer a1: a viper local that lives in memory."""
        return self.mem is not None and self.base == 1

    def text(self):
        args = ", ".join(a if isinstance(a, str) else str(a) for a in self.args)
        return ("%s %s" % (self.op, args)).strip()


def _sext(v, bits):
    return v - (1 << bits) if v & (1 << (bits - 1)) else v


def _a(n):
    return "a%d" % n


# b4const / b4constu: the immediates of beqi/bnei/blti/bgei and bltui/bgeui (ISA manual)
B4CONST = (-1, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 32, 64, 128, 256)
B4CONSTU = (32768, 65536, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 32, 64, 128, 256)

_RRR_ARITH = {1: "and", 2: "or", 3: "xor", 8: "add", 9: "addx2", 10: "addx4", 11: "addx8",
              12: "sub", 13: "subx2", 14: "subx4", 15: "subx8"}
_RST2 = {8: "mull", 10: "muluh", 11: "mulsh", 12: "quou", 13: "quos", 14: "remu", 15: "rems"}
_RST3 = {4: "min", 5: "max", 6: "minu", 7: "maxu", 8: "moveqz", 9: "movnez", 10: "movltz",
         11: "movgez"}
_LSAI = {0: ("l8ui", 1, "load"), 1: ("l16ui", 2, "load"), 2: ("l32i", 4, "load"),
         4: ("s8i", 1, "store"), 5: ("s16i", 2, "store"), 6: ("s32i", 4, "store"),
         9: ("l16si", 2, "load")}
_BRR = {0: "bnone", 1: "beq", 2: "blt", 3: "bltu", 4: "ball", 5: "bbc", 8: "bany", 9: "bne",
        10: "bge", 11: "bgeu", 12: "bnall", 13: "bbs"}


def insn_size(b0):
    """Length of the instruction whose first byte is b0 (op0 8..13: density, 2 bytes)."""
    op0 = b0 & 15
    if 8 <= op0 <= 13:
        return 2
    if op0 >= 14:
        raise DecodeError("op0 %d: not an instruction of this core (FLIX/reserved)" % op0)
    return 3


def decode(code, addr):
    """The instruction at byte offset `addr` of `code`."""
    if addr >= len(code):
        raise DecodeError("decoding past the end of the code at %#x" % addr)
    size = insn_size(code[addr])
    if addr + size > len(code):
        raise DecodeError("truncated instruction at %#x" % addr)
    w = int.from_bytes(code[addr:addr + size], "little")
    op0, t, s, r = w & 15, (w >> 4) & 15, (w >> 8) & 15, (w >> 12) & 15
    if size == 2:
        return _decode16(addr, op0, t, s, r)
    op1, op2, imm8 = (w >> 16) & 15, (w >> 20) & 15, (w >> 16) & 255
    ins = None
    if op0 == 0:
        ins = _qrst(addr, op1, op2, r, s, t)
    elif op0 == 1:  # l32r: pc-relative literal (the emitter's constant table)
        off = _sext(w >> 8, 16) << 2
        lit = ((addr + 3) & ~3) + off
        ins = Insn(addr, 3, "l32r", (_a(t), "[%#x]" % lit), mem="load", base=None)
    elif op0 == 2:
        if r in _LSAI:
            name, scale, kind = _LSAI[r]
            ins = Insn(addr, 3, name, (_a(t), _a(s), imm8 * scale), mem=kind, base=s)
        elif r == 10:
            ins = Insn(addr, 3, "movi", (_a(t), _sext((s << 8) | imm8, 12)))
        elif r == 12:
            ins = Insn(addr, 3, "addi", (_a(t), _a(s), _sext(imm8, 8)))
        elif r == 13:
            ins = Insn(addr, 3, "addmi", (_a(t), _a(s), _sext(imm8, 8) << 8))
    elif op0 == 5:  # call0/4/8/12, target 4-byte aligned
        n = (w >> 4) & 3
        target = (addr & ~3) + (_sext(w >> 6, 18) << 2) + 4
        # call0 is how the emitter reads the PC (asm_xtensa_mov_reg_pcrel): control goes to the
        # target and the padding after the call is never executed, so treat it as a jump
        flow = JUMP if n == 0 else NEXT
        ins = Insn(addr, 3, "call%d" % (4 * n), ("%#x" % target,), flow=flow,
                   target=target if n == 0 else None)
    elif op0 == 6:
        ins = _si(addr, w, s, r, imm8)
    elif op0 == 7:
        target = addr + 4 + _sext(imm8, 8)
        if r in _BRR:
            ins = Insn(addr, 3, _BRR[r], (_a(s), _a(t), "%#x" % target), flow=BRANCH,
                       target=target)
        elif r in (6, 7, 14, 15):
            bit = ((r & 1) << 4) | t
            ins = Insn(addr, 3, "bbci" if r < 8 else "bbsi", (_a(s), bit, "%#x" % target),
                       flow=BRANCH, target=target)
    if ins is None:
        raise DecodeError("unknown instruction %06x at %#x" % (w, addr))
    return ins


def _qrst(addr, op1, op2, r, s, t):
    if op1 == 0:
        if op2 == 0:
            if r == 0:
                m, n = t >> 2, t & 3
                if m == 2 and n == 0:
                    return Insn(addr, 3, "ret", flow=RETURN)
                if m == 2 and n == 1:
                    return Insn(addr, 3, "retw", flow=RETURN)
                if m == 2 and n == 2:
                    return Insn(addr, 3, "jx", (_a(s),), flow=INDIRECT)
                if m == 3:
                    return Insn(addr, 3, "callx%d" % (4 * n), (_a(s),))
            if r == 2 and t == 0 and s == 0:
                return Insn(addr, 3, "isync")
            return None
        if op2 in _RRR_ARITH:
            return Insn(addr, 3, _RRR_ARITH[op2], (_a(r), _a(s), _a(t)))
        if op2 == 4:
            names = {0: "ssr", 1: "ssl", 2: "ssa8l", 3: "ssa8b"}
            if r in names and t == 0:
                return Insn(addr, 3, names[r], (_a(s),))
            if r == 4 and t >> 1 == 0:
                return Insn(addr, 3, "ssai", (s | ((t & 1) << 4),))
            if r in (14, 15):
                return Insn(addr, 3, "nsa" if r == 14 else "nsau", (_a(t), _a(s)))
            return None
        if op2 == 6 and s in (0, 1):
            return Insn(addr, 3, "neg" if s == 0 else "abs", (_a(r), _a(t)))
        return None
    if op1 == 1:
        if op2 in (0, 1):
            return Insn(addr, 3, "slli", (_a(r), _a(s), 32 - (((op2 & 1) << 4) | t)))
        if op2 in (2, 3):
            return Insn(addr, 3, "srai", (_a(r), _a(t), ((op2 & 1) << 4) | s))
        if op2 == 4:
            return Insn(addr, 3, "srli", (_a(r), _a(t), s))
        if op2 == 8:
            return Insn(addr, 3, "src", (_a(r), _a(s), _a(t)))
        if op2 == 9 and s == 0:
            return Insn(addr, 3, "srl", (_a(r), _a(t)))
        if op2 == 10 and t == 0:
            return Insn(addr, 3, "sll", (_a(r), _a(s)))
        if op2 == 11 and s == 0:
            return Insn(addr, 3, "sra", (_a(r), _a(t)))
        if op2 in (12, 13):
            return Insn(addr, 3, "mul16u" if op2 == 12 else "mul16s", (_a(r), _a(s), _a(t)))
        return None
    if op1 == 2 and op2 in _RST2:
        return Insn(addr, 3, _RST2[op2], (_a(r), _a(s), _a(t)))
    if op1 == 3:
        if op2 == 2:
            return Insn(addr, 3, "sext", (_a(r), _a(s), t + 7))
        if op2 in _RST3:
            return Insn(addr, 3, _RST3[op2], (_a(r), _a(s), _a(t)))
        return None
    if op1 in (4, 5):  # extui ar, at, shift, bits
        shift = ((op1 & 1) << 4) | s
        return Insn(addr, 3, "extui", (_a(r), _a(t), shift, op2 + 1))
    return None


def _si(addr, w, s, r, imm8):
    n, m = (w >> 4) & 3, (w >> 6) & 3
    if n == 0:  # j
        target = addr + 4 + _sext(w >> 6, 18)
        return Insn(addr, 3, "j", ("%#x" % target,), flow=JUMP, target=target)
    if n == 1:  # beqz/bnez/bltz/bgez with a 12-bit offset
        target = addr + 4 + _sext(w >> 12, 12)
        name = ("beqz", "bnez", "bltz", "bgez")[m]
        return Insn(addr, 3, name, (_a(s), "%#x" % target), flow=BRANCH, target=target)
    target = addr + 4 + _sext(imm8, 8)
    if n == 2:
        name = ("beqi", "bnei", "blti", "bgei")[m]
        return Insn(addr, 3, name, (_a(s), B4CONST[r], "%#x" % target), flow=BRANCH,
                    target=target)
    if m == 0:  # entry as, frame size in units of 8 bytes
        return Insn(addr, 3, "entry", (_a(s), (w >> 12) * 8))
    if m in (2, 3):
        name = "bltui" if m == 2 else "bgeui"
        return Insn(addr, 3, name, (_a(s), B4CONSTU[r], "%#x" % target), flow=BRANCH,
                    target=target)
    return None


def _decode16(addr, op0, t, s, r):
    if op0 == 8:
        return Insn(addr, 2, "l32i.n", (_a(t), _a(s), 4 * r), mem="load", base=s)
    if op0 == 9:
        return Insn(addr, 2, "s32i.n", (_a(t), _a(s), 4 * r), mem="store", base=s)
    if op0 == 10:
        return Insn(addr, 2, "add.n", (_a(r), _a(s), _a(t)))
    if op0 == 11:
        return Insn(addr, 2, "addi.n", (_a(r), _a(s), -1 if t == 0 else t))
    if op0 == 12:
        if not t & 8:  # movi.n: imm7 in -32..95
            imm = ((t & 7) << 4) | r
            return Insn(addr, 2, "movi.n", (_a(s), imm - 128 if imm >= 96 else imm))
        target = addr + 4 + (((t & 3) << 4) | r)
        name = "bnez.n" if t & 4 else "beqz.n"
        return Insn(addr, 2, name, (_a(s), "%#x" % target), flow=BRANCH, target=target)
    # op0 == 13
    if r == 0:
        return Insn(addr, 2, "mov.n", (_a(t), _a(s)))
    if r == 15 and s == 0:
        names = {0: ("ret.n", RETURN), 1: ("retw.n", RETURN), 3: ("nop.n", NEXT)}
        if t in names:
            name, flow = names[t]
            return Insn(addr, 2, name, flow=flow)
    raise DecodeError("unknown narrow instruction %04x at %#x"
                      % ((r << 12) | (s << 8) | (t << 4) | op0, addr))


def disassemble(code, entry=0):
    """Every instruction reachable from `entry`, by address (recursive descent).

    Following control flow, not a linear sweep, skips the data the emitter puts inside the
    code: the constant table that the first `j` jumps over, and call0's alignment padding.
    """
    out = {}
    todo = [entry]
    while todo:
        addr = todo.pop()
        while addr not in out:
            ins = decode(code, addr)
            out[addr] = ins
            if ins.target is not None:
                todo.append(ins.target)
            if ins.flow in (JUMP, RETURN, INDIRECT):
                break
            addr += ins.size
    return dict(sorted(out.items()))
