"""Cycles, not instructions: the LX7 pipeline's known costs on a decoded instruction sequence.

Every instruction issues in one cycle; on top of that (sources, and which figure is an
assumption, in docs/wakeword.md "Cost"):

  load-use    a load (l32i, l16ui, l8ui, l32r, ...) whose result the very next instruction reads
              waits for the memory stage. Xtensa LX pipeline, Xtensa LX Microprocessor Overview
              Handbook (Tensilica, 2004), "Processor pipeline": 5 stages I R E M W, a load's
              data is ready after M, so a dependent instruction right behind it stalls 1 cycle;
              the optional 7-stage pipeline (an extra fetch stage and an extra memory stage)
              makes it 2. Which pipeline Espressif configured for the ESP32-S3's LX7 is not
              published (the ESP32-S3 TRM and datasheet do not say): low/central 1, high 2.
  taken       a branch is resolved in E, so a taken branch or jump throws away the
              instructions fetched behind it: 2 cycles on the 5-stage pipeline, 3 on the
              7-stage one (same handbook). Viper emits no zero-overhead `loop` instruction.
  mull        MUL32 option: the product of `mull` is not bypassed to the next instruction in
              the same cycle. The latency is a configuration choice (1..2 extra cycles when
              used at once); assumption: low 0, central 1, high 2.
  l32r        a literal load from the function's constant table, which lives in IRAM with the
              code (ports/esp32/main.c esp_native_code_commit: MALLOC_CAP_EXEC). A load like
              any other (load-use applies); an extra cycle for the instruction-RAM read is an
              assumption: low 0, central 0, high 1.

A block's cost includes the hazards inside it; what depends on the path (a taken branch, a
load at the end of one block used by the first instruction of the next) is an edge cost, so
the loop finder's longest paths (loops.py) carry it.
"""

from dataclasses import dataclass

from .decode import BRANCH, JUMP


@dataclass(frozen=True)
class Costs:
    """Extra cycles, beyond the one every instruction takes."""
    name: str
    load_use: int
    taken: int
    mull: int
    l32r: int


LOW = Costs("low", load_use=1, taken=2, mull=0, l32r=0)
CENTRAL = Costs("central", load_use=1, taken=2, mull=1, l32r=0)
HIGH = Costs("high", load_use=2, taken=3, mull=2, l32r=1)
ALL = (LOW, CENTRAL, HIGH)

_NO_DEST = {"ssr", "ssl", "ssa8l", "ssa8b", "ssai", "jx", "ret", "retw", "ret.n", "retw.n",
            "isync", "nop.n", "j"}


def _reg(a):
    return isinstance(a, str) and a[:1] == "a" and a[1:].isdigit()


def writes(ins):
    """The address register an instruction writes, or None."""
    if (ins.mem == "store" or ins.flow == BRANCH or ins.op.startswith("call")
            or ins.op in _NO_DEST or not ins.args):
        return None
    return ins.args[0] if _reg(ins.args[0]) else None


def reads(ins):
    """The address registers an instruction reads."""
    args = ins.args[1:] if writes(ins) is not None else ins.args
    return {a for a in args if _reg(a)}


def stall(prev, ins, costs):
    """Cycles `ins` waits for the result of `prev`, the instruction right before it."""
    d = writes(prev)
    if d is None or d not in reads(ins):
        return 0
    if prev.mem == "load":
        return costs.load_use
    if prev.op == "mull":
        return costs.mull
    return 0


def sequence(insns, costs):
    """Cycles of straight-line instructions run in order (no branch taken)."""
    total = 0
    prev = None
    for ins in insns:
        total += 1
        if ins.op == "l32r":
            total += costs.l32r
        if prev is not None:
            total += stall(prev, ins, costs)
        prev = ins
    return total


def taken(a_last, b_start):
    """Does control pass from an instruction to the block at b_start by a taken branch/jump?"""
    if a_last.flow == JUMP:
        return True
    return a_last.flow == BRANCH and a_last.target == b_start \
        and a_last.target != a_last.addr + a_last.size


def edge(a_block, b_block, costs):
    """Cycles passing from block a to block b costs beyond both blocks' own."""
    last = a_block.insns[-1]
    if taken(last, b_block.start):
        return costs.taken
    return stall(last, b_block.insns[0], costs)
