"""Mutants generated from the current source, at run time (docs/mutation.md).

Each operator walks the module's syntax tree (the firmware is MicroPython, whose source is valid
Python syntax) and proposes one small textual edit at an exact position. A mutant is the file
with that one edit; it is described by the line before and after, so a reviewer (and the list of
equivalent mutants, equivalent.json) can name it without line numbers that drift.

Operators:
  cmp      a comparison flipped: < <=, > >=, == !=, in / not in, is / is not
  not      a condition negated (if/while/elif, and the operands of and/or)
  andor    `and` <-> `or`
  const    an integer constant + 1 (a 0 or 1 flag, a size, a time limit), True <-> False
  delete   a statement that is a call (a side effect) replaced by `pass`
  swap     two adjacent call statements swapped (the order within a frame: LED and mic)
  return   a returned value replaced by None (or by not-it for a True/False return)
"""

import ast
from dataclasses import dataclass

_CMP_FLIP = {
    ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="), ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.In: ("in", "not in"),
    ast.NotIn: ("not in", "in"), ast.Is: ("is", "is not"), ast.IsNot: ("is not", "is"),
}


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the tree, e.g. firmware/earshot/mute.py
    operator: str
    line: int  # 1-based line of the first changed character
    start: int  # offsets into the file's text
    end: int
    replacement: str
    before: str  # the original line(s), stripped
    after: str  # the mutated line(s), stripped
    name: str = ""  # semantic mutants: the bug they recreate
    promise: str = ""

    @property
    def ident(self):
        if self.name:
            return self.name
        return "%s:%d:%s:%s" % (self.path, self.line, self.operator, self.after)

    def apply(self, text):
        return text[: self.start] + self.replacement + text[self.end :]


def _offsets(text):
    """Line number (1-based) -> offset of its first character."""
    starts = [0, 0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


class _Gen(ast.NodeVisitor):
    def __init__(self, path, text):
        self.path = path
        self.text = text
        self.lines = text.split("\n")
        self.starts = _offsets(text)
        self.out = []
        self.docstrings = set()

    def pos(self, lineno, col):
        # ast columns are UTF-8 byte offsets; the firmware is ASCII apart from comments, but
        # be exact anyway.
        line = self.lines[lineno - 1]
        prefix = line.encode("utf-8")[:col].decode("utf-8", "replace")
        return self.starts[lineno] + len(prefix)

    def span(self, node):
        return self.pos(node.lineno, node.col_offset), self.pos(node.end_lineno,
                                                                node.end_col_offset)

    def add(self, op, start, end, replacement):
        if self.text[start:end] == replacement:
            return
        line = self.text.count("\n", 0, start) + 1
        first = self.starts[line]
        last_line = self.text.count("\n", 0, end) + 1
        stop = self.text.find("\n", end)
        stop = len(self.text) if stop < 0 else stop
        before = self.text[first:stop]
        after = self.text[first:start] + replacement + self.text[end:stop]
        if last_line > line:
            before, after = " ".join(before.split()), " ".join(after.split())
        self.out.append(Mutant(self.path, op, line, start, end, replacement, before.strip(),
                               after.strip()))

    # -- operators ------------------------------------------------------------------------

    def visit_Compare(self, node):
        if len(node.ops) == 1:
            op = node.ops[0]
            flip = _CMP_FLIP.get(type(op))
            if flip:
                a_end = self.pos(node.left.end_lineno, node.left.end_col_offset)
                b_start = self.pos(node.comparators[0].lineno, node.comparators[0].col_offset)
                seg = self.text[a_end:b_start]
                idx = seg.find(flip[0])
                if idx >= 0:
                    s = a_end + idx
                    self.add("cmp", s, s + len(flip[0]), flip[1])
        self.generic_visit(node)

    def _negate(self, test):
        s, e = self.span(test)
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner_s, inner_e = self.span(test.operand)
            self.add("not", s, e, self.text[inner_s:inner_e])
        else:
            self.add("not", s, e, "not (%s)" % self.text[s:e])

    def visit_If(self, node):
        self._negate(node.test)
        self.generic_visit(node)

    def visit_While(self, node):
        if not (isinstance(node.test, ast.Constant) and node.test.value is True):
            self._negate(node.test)
        self.generic_visit(node)

    def visit_IfExp(self, node):
        self._negate(node.test)
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        word, other = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        for a, b in zip(node.values, node.values[1:]):
            a_end = self.pos(a.end_lineno, a.end_col_offset)
            b_start = self.pos(b.lineno, b.col_offset)
            seg = self.text[a_end:b_start]
            idx = seg.find(word)
            if idx >= 0:
                self.add("andor", a_end + idx, a_end + idx + len(word), other)
        self.generic_visit(node)

    def visit_Constant(self, node):
        v = node.value
        s, e = self.span(node)
        if isinstance(v, bool):
            self.add("const", s, e, "False" if v else "True")
        elif isinstance(v, int) and self.text[s:e].isdigit():
            self.add("const", s, e, str(v + 1))

    def visit_Return(self, node):
        v = node.value
        if v is not None:
            s, e = self.span(v)
            if isinstance(v, ast.Constant) and isinstance(v.value, bool):
                pass  # the const operator flips it already
            elif isinstance(v, ast.Constant) and v.value is None:
                pass
            else:
                self.add("return", s, e, "None")
        self.generic_visit(node)

    def _body(self, stmts):
        calls = [st for st in stmts if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call)]
        for st in calls:
            s, e = self.span(st)
            self.add("delete", s, e, "pass")
        for a, b in zip(stmts, stmts[1:]):
            if a in calls and b in calls and a.lineno != b.lineno and \
                    a.end_lineno + 1 == b.lineno and b.end_lineno == b.lineno and \
                    a.end_lineno == a.lineno:
                sa, ea = self.span(a)
                sb, eb = self.span(b)
                ta, tb = self.text[sa:ea], self.text[sb:eb]
                self.add("swap", sa, eb, tb + self.text[ea:sb] + ta)

    def generic_visit(self, node):
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                self._body(stmts)
        super().generic_visit(node)

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # a docstring
        self.generic_visit(node)

    def visit_Call(self, node):
        # const(N) at module level: the constant is the operand; the name const is not.
        self.generic_visit(node)


def generate(path, text):
    """Every mutant of one module's text, in source order."""
    tree = ast.parse(text)
    gen = _Gen(path, text)
    gen.visit(tree)
    seen, out = set(), []
    for m in sorted(gen.out, key=lambda m: (m.start, m.operator, m.replacement)):
        key = (m.start, m.end, m.replacement)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def semantic(path, text, spec):
    """A named mutant from the issue's list (semantic.json): `search` must occur exactly once
    in the current text, else None (not applicable: the code it targets has changed)."""
    search, replace = spec["search"], spec["replace"]
    if text.count(search) != 1:
        return None
    start = text.index(search)
    line = text.count("\n", 0, start) + 1
    return Mutant(path, "semantic", line, start, start + len(search), replace,
                  " ".join(search.split()), " ".join(replace.split()), name=spec["name"],
                  promise=spec.get("promise", ""))
