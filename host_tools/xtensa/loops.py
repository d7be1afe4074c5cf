"""Basic blocks, natural loops and per-iteration instruction counts of one decoded function.

A viper `while cond: body` compiles to `j cond; body: ...; cond: test; bnez body`, so the loop
header (the block the back edge returns to) is the condition, which runs once more per entry
than the body. For each loop this module gives two paths through the loop's own blocks (inner
loops excluded, they are counted on their own):

  iteration   header -> ... -> back edge: what one trip costs (condition true, then the body)
  exit        header -> ... -> leaving the loop: the final, false evaluation of the condition

Where the body branches (an `if` inside the loop), the longest path is taken, so the count is
an upper bound: every `if` taken, the longer arm of every `if/else`.
"""

from dataclasses import dataclass, field

from . import cycles as C
from .decode import BRANCH, INDIRECT, JUMP, RETURN


@dataclass
class Block:
    start: int
    insns: list
    succs: list = field(default_factory=list)

    @property
    def cost(self):
        return len(self.insns)

    @property
    def stack(self):
        return sum(1 for i in self.insns if i.is_stack_access)


@dataclass
class Loop:
    header: int
    blocks: set            # block starts, inner loops' blocks included
    latches: set           # sources of the back edges
    parent: "Loop | None" = None
    children: list = field(default_factory=list)
    iteration: tuple = (0, 0)   # (instructions, stack loads/stores) of one trip
    exit: tuple = (0, 0)        # (instructions, stack loads/stores) of the last, false test
    cycles: dict = field(default_factory=dict)  # Costs.name -> (iteration, exit) in cycles

    @property
    def start(self):
        return min(self.blocks)

    @property
    def depth(self):
        return 0 if self.parent is None else self.parent.depth + 1


def blocks(insns):
    """{start: Block} for a disassembly {addr: Insn}."""
    leaders = {min(insns)}
    for ins in insns.values():
        if ins.target is not None:
            leaders.add(ins.target)
        if ins.flow != "next":
            leaders.add(ins.addr + ins.size)
    out = {}
    cur = None
    for addr, ins in insns.items():
        if addr in leaders or cur is None:
            cur = out[addr] = Block(addr, [])
        cur.insns.append(ins)
    for b in out.values():
        last = b.insns[-1]
        nxt = last.addr + last.size
        if last.flow == BRANCH:
            b.succs = [last.target, nxt]
        elif last.flow == JUMP:
            b.succs = [last.target]
        elif last.flow in (RETURN, INDIRECT):
            b.succs = []
        else:
            b.succs = [nxt]
        b.succs = [s for s in b.succs if s in out]
    return out


def _dominators(bl, entry):
    preds = {s: [] for s in bl}
    for b in bl.values():
        for s in b.succs:
            preds[s].append(b.start)
    dom = {s: set(bl) for s in bl}
    dom[entry] = {entry}
    changed = True
    while changed:
        changed = False
        for s in bl:
            if s == entry:
                continue
            ps = [dom[p] for p in preds[s]]
            new = {s} | (set.intersection(*ps) if ps else set())
            if new != dom[s]:
                dom[s] = new
                changed = True
    return dom, preds


def find_loops(bl):
    """Natural loops (back edges to a dominating header), nested, sorted by start address."""
    entry = min(bl)
    dom, preds = _dominators(bl, entry)
    by_header = {}
    for b in bl.values():
        for h in b.succs:
            if h in dom[b.start]:  # back edge b -> h
                loop = by_header.setdefault(h, Loop(h, {h}, set()))
                loop.latches.add(b.start)
                todo = [b.start]
                while todo:
                    n = todo.pop()
                    if n not in loop.blocks:
                        loop.blocks.add(n)
                        todo.extend(preds[n])
    loops = sorted(by_header.values(), key=lambda lp: lp.start)
    for lp in loops:
        outer = [o for o in loops if o is not lp and lp.blocks < o.blocks]
        if outer:
            lp.parent = min(outer, key=lambda o: len(o.blocks))
            lp.parent.children.append(lp)
    for lp in loops:
        _paths(lp, bl)
    return loops


def _longest(bl, nodes, start, ends, skip_edge, weight, edge=None, end=None):
    """Longest path from `start` to a block in `ends` over the DAG of `nodes` (edges for which
    skip_edge(a, b) is true removed), by the first field of the tuples weight(block) gives;
    edge(a, b) is added for each edge taken and end(n) where the path stops."""
    memo = {}

    def go(n):
        if n in memo:
            return memo[n]
        memo[n] = None  # a cycle here would mean a loop was missed
        best = end(n) if end is not None and n in ends else ((0, 0) if n in ends else None)
        for s in bl[n].succs:
            if s in nodes and not skip_edge(n, s):
                sub = go(s)
                if sub is None:
                    continue
                if edge is not None:
                    sub = tuple(x + y for x, y in zip(sub, edge(n, s)))
                if best is None or sub[0] > best[0]:
                    best = sub
        if best is not None:
            best = tuple(x + y for x, y in zip(best, weight(n)))
        memo[n] = best
        return best

    return go(start)


def _paths(lp, bl):
    inner = set()
    for c in lp.children:
        inner |= c.blocks
    own = lp.blocks - inner

    def w(n):
        return (bl[n].cost, bl[n].stack) if n in own else (0, 0)

    # an inner loop is entered and left through its own blocks: walk them (weight 0) so the
    # path continues behind the inner loop, but never around its back edges
    back = {(b, c.header) for c in _all(lp.children) for b in c.latches}

    def skip_iter(a, b):
        return (a, b) in back or b == lp.header

    it = _longest(bl, lp.blocks, lp.header, lp.latches, skip_iter, w)
    lp.iteration = it if it is not None else (0, 0)
    exits = {n for n in lp.blocks if any(s not in lp.blocks for s in bl[n].succs)}
    ex = _longest(bl, lp.blocks - inner | {lp.header}, lp.header, exits, skip_iter, w)
    lp.exit = ex if ex is not None else (0, 0)
    for costs in C.ALL:
        lp.cycles[costs.name] = _loop_cycles(lp, bl, own, exits, skip_iter, inner, costs)


def _loop_cycles(lp, bl, own, exits, skip_iter, inner, costs):
    # The same two paths in cycles (cycles.py): each edge is charged to the loop that owns
    # the branch or the instruction it leaves from.
    def w(n):
        return (C.sequence(bl[n].insns, costs),) if n in own else (0,)

    def e(a, b):
        return (C.edge(bl[a], bl[b], costs),) if a in own else (0,)

    def back(n):  # latch -> header: the branch back, taken unless the body falls into it
        return (C.edge(bl[n], bl[lp.header], costs),) if n in own else (0,)

    def out(n):
        return (max(C.edge(bl[n], bl[s], costs) for s in bl[n].succs if s not in lp.blocks),)

    it = _longest(bl, lp.blocks, lp.header, lp.latches, skip_iter, w, e, back)
    ex = _longest(bl, lp.blocks - inner | {lp.header}, lp.header, exits, skip_iter, w, e, out)
    return (it[0] if it else 0, ex[0] if ex else 0)


def _all(loops):
    for lp in loops:
        yield lp
        yield from _all(lp.children)


def straight_line(bl, loops):
    """Longest path through the function outside every loop: (instructions, stack accesses)."""
    inloop = set()
    for lp in loops:
        inloop |= lp.blocks
    entry = min(bl)
    ends = {s for s, b in bl.items() if not b.succs}
    back = {(b, lp.header) for lp in loops for b in lp.latches}

    def w(n):
        return (bl[n].cost, bl[n].stack) if n not in inloop else (0, 0)

    res = _longest(bl, set(bl), entry, ends, lambda a, b: (a, b) in back, w)
    return res if res is not None else (0, 0)


def straight_cycles(bl, loops, costs):
    """straight_line's longest path in cycles (cycles.py) for one set of pipeline costs."""
    inloop = set()
    for lp in loops:
        inloop |= lp.blocks
    entry = min(bl)
    ends = {s for s, b in bl.items() if not b.succs}
    back = {(b, lp.header) for lp in loops for b in lp.latches}

    def w(n):
        return (C.sequence(bl[n].insns, costs),) if n not in inloop else (0,)

    def e(a, b):
        return (C.edge(bl[a], bl[b], costs),) if a not in inloop else (0,)

    res = _longest(bl, set(bl), entry, ends, lambda a, b: (a, b) in back, w, e)
    return res[0] if res is not None else 0
