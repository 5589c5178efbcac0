"""The small expression language of `when` conditions and metric formulas.

    nps < thresholds.nps_min and not strategic
    count(category.*) >= 2 or status == "lost"
    pct_drop(revenue_current, revenue_previous)

Parsed by hand into an AST (no eval/exec of user text). Names are resolved later
against the project vocabulary (see the checks in `checks.py`).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")
FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}
NEGATE = {"<": ">=", ">=": "<", ">": "<=", "<=": ">", "==": "!=", "!=": "=="}
KEYWORDS = {"and", "or", "not", "in", "true", "false"}
# Every walker of the tree (compiler, explain, formulas) recurses once per level; the
# parser itself about eight frames per parenthesis: a bound far below Python's 1000 frames.
MAX_DEPTH = 64
MAX_LIST = 200  # values in `x in [...]`: durable-rules hangs past 512 tests under one node


class ExprError(ValueError):
    """A syntax or name error inside an expression; `offset` is 0-based within the text."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.offset = offset


# ---- AST -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Num:
    value: float | int
    pos: int = 0


@dataclass(frozen=True)
class Str:
    value: str
    pos: int = 0


@dataclass(frozen=True)
class Bool:
    value: bool
    pos: int = 0


@dataclass(frozen=True)
class Ref:
    """A dotted name: `nps`, `thresholds.nps_min`, `signal.low_nps`, `category.*`."""

    parts: tuple[str, ...]
    pos: int = 0

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    pos: int = 0


@dataclass(frozen=True)
class Unary:
    op: str  # "-"
    operand: Node
    pos: int = 0


@dataclass(frozen=True)
class Binary:
    op: str  # + - * /
    left: Node
    right: Node
    pos: int = 0


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    pos: int = 0


@dataclass(frozen=True)
class In:
    left: Node
    items: tuple[Node, ...]
    negated: bool = False
    pos: int = 0


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]
    pos: int = 0


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]
    pos: int = 0


@dataclass(frozen=True)
class Not:
    item: Node
    pos: int = 0


Node = Num | Str | Bool | Ref | Call | Unary | Binary | Compare | In | And | Or | Not


def in_values(node: In) -> list[Any]:
    """The values of an `in` list, whose items check_condition has made literals."""
    out: list[Any] = []
    for item in node.items:
        assert isinstance(item, (Num, Str, Bool))  # checks.check_condition: a list of values
        out.append(item.value)
    return out

# ---- tokenizer -------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|\[|\]|,|\.)
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str  # num str name op end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m:
            ch = text[i]
            hint = " (use 'and', 'or', 'not')" if ch in "&|!" else ""
            if ch == "=":
                hint = " (use '==' to compare)"
            raise ExprError(f"unexpected character '{ch}'{hint}", i)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), i))
        i = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# ---- parser ----------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0  # parentheses, `not`, `-` and calls open around the current token

    def nested(self, parse: Callable[[], Node], pos: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(_TOO_DEEP, pos)
        node = parse()
        self.depth -= 1
        return node

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at(self, *texts: str) -> bool:
        t = self.tok
        return t.kind in ("op", "name") and t.text in texts

    def expect(self, text: str) -> Token:
        if not self.at(text):
            raise ExprError(f"expected '{text}' but found {self.describe(self.tok)}", self.tok.pos)
        return self.next()

    @staticmethod
    def describe(t: Token) -> str:
        return "the end of the expression" if t.kind == "end" else f"'{t.text}'"

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprError("empty expression", 0)
        node = self.or_()
        if self.tok.kind != "end":
            raise ExprError(f"unexpected {self.describe(self.tok)}", self.tok.pos)
        return node

    def or_(self) -> Node:
        pos = self.tok.pos
        items = [self.and_()]
        while self.at("or"):
            self.next()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items), pos)

    def and_(self) -> Node:
        pos = self.tok.pos
        items = [self.not_()]
        while self.at("and"):
            self.next()
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items), pos)

    def not_(self) -> Node:
        if self.at("not"):
            pos = self.next().pos
            return Not(self.nested(self.not_, pos), pos)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum_()
        t = self.tok
        if t.kind == "op" and t.text in COMPARISONS:
            self.next()
            right = self.sum_()
            if self.tok.kind == "op" and self.tok.text in COMPARISONS:
                raise ExprError("chained comparisons are not supported; join them with 'and'",
                                self.tok.pos)
            return Compare(t.text, left, right, t.pos)
        if self.at("in"):
            self.next()
            return In(left, self.list_(), False, t.pos)
        if self.at("not") and self.tokens[self.i + 1].text == "in":
            self.next()
            self.next()
            return In(left, self.list_(), True, t.pos)
        return left

    def list_(self) -> tuple[Node, ...]:
        self.expect("[")
        items: list[Node] = []
        while not self.at("]"):
            if len(items) == MAX_LIST:
                raise ExprError(f"more than {MAX_LIST} values in a list: split the rule, or map the "
                                "values to fewer with a derived metric", self.tok.pos)
            items.append(self.primary())
            if not self.at("]"):
                self.expect(",")
        self.expect("]")
        return tuple(items)

    def sum_(self) -> Node:
        node = self.product()
        while self.tok.kind == "op" and self.tok.text in "+-":
            t = self.next()
            node = Binary(t.text, node, self.product(), t.pos)
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            t = self.next()
            node = Binary(t.text, node, self.unary(), t.pos)
        return node

    def unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text == "-":
            t = self.next()
            operand = self.nested(self.unary, t.pos)
            if isinstance(operand, Num):
                return Num(-operand.value, t.pos)
            return Unary("-", operand, t.pos)
        return self.primary()

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.next()
            text = t.text
            try:  # int() refuses more than 4300 digits; float() gives inf for 1e400
                value: float | int = float(text) if any(c in text for c in ".eE") else int(text)
            except ValueError:
                value = math.inf
            if not math.isfinite(value):
                raise ExprError(f"number too large: {text[:20]}{'...' if len(text) > 20 else ''}", t.pos)
            return Num(value, t.pos)
        if t.kind == "str":
            self.next()
            body = t.text[1:-1]
            return Str(re.sub(r"\\(.)", r"\1", body), t.pos)
        if t.kind == "op" and t.text == "-" :
            return self.unary()
        if t.kind == "op" and t.text == "(":
            self.next()
            node = self.nested(self.or_, t.pos)
            self.expect(")")
            return node
        if t.kind == "name":
            if t.text in ("true", "false"):
                self.next()
                return Bool(t.text == "true", t.pos)
            if t.text in KEYWORDS:
                raise ExprError(f"unexpected keyword '{t.text}'", t.pos)
            self.next()
            if self.at("("):
                self.next()
                args: list[Node] = []
                while not self.at(")"):
                    args.append(self.nested(self.or_, t.pos))
                    if not self.at(")"):
                        self.expect(",")
                self.expect(")")
                return Call(t.text, tuple(args), t.pos)
            parts = [t.text]
            while self.at("."):
                self.next()
                n = self.tok
                if n.kind == "name" or (n.kind == "op" and n.text == "*"):
                    parts.append(self.next().text)
                else:
                    raise ExprError(f"expected a name after '.' but found {self.describe(n)}", n.pos)
            return Ref(tuple(parts), t.pos)
        raise ExprError(f"expected a value but found {self.describe(t)}", t.pos)


_TOO_DEEP = (f"expression nested too deeply (more than {MAX_DEPTH} levels of parentheses, 'not', "
             "'-' or chained operators): split it into derived metrics or rules")


def parse(text: str) -> Node:
    """Parse an expression; raise ExprError with the offset of the problem."""
    if not isinstance(text, str):
        raise ExprError("an expression must be text", 0)
    node = _Parser(text).parse()
    _check_depth(node)
    return node


def _children(n: Node) -> tuple[Node, ...]:
    if isinstance(n, Call):
        return n.args
    if isinstance(n, Unary):
        return (n.operand,)
    if isinstance(n, (Binary, Compare)):
        return (n.left, n.right)
    if isinstance(n, In):
        return (n.left,) + n.items
    if isinstance(n, (And, Or)):
        return n.items
    if isinstance(n, Not):
        return (n.item,)
    return ()


def _check_depth(root: Node) -> None:
    """Chains like `a + b + c + ...` nest one level per operator without any parenthesis."""
    stack = [(root, 1)]
    while stack:  # iterative: the tree may be deeper than the recursion limit
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExprError(_TOO_DEEP, node.pos)
        stack.extend((c, depth + 1) for c in reversed(_children(node)))  # leftmost first


def refs(node: Node) -> list[Ref]:
    """Every dotted name in an expression, in source order."""
    out: list[Ref] = []

    def walk(n: Node) -> None:
        if isinstance(n, Ref):
            out.append(n)
        for child in _children(n):
            walk(child)

    walk(node)
    return out


def to_text(node: Node) -> str:
    """Render an AST back to readable source (for explanations)."""
    if isinstance(node, Num):
        return fmt_number(node.value)
    if isinstance(node, Str):
        return '"' + node.value.replace('"', '\\"') + '"'
    if isinstance(node, Bool):
        return "true" if node.value else "false"
    if isinstance(node, Ref):
        return node.text
    if isinstance(node, Call):
        return f"{node.name}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, Unary):
        return f"-{_paren(node.operand)}"
    if isinstance(node, Binary):
        return f"{_paren(node.left)} {node.op} {_paren(node.right)}"
    if isinstance(node, Compare):
        return f"{to_text(node.left)} {node.op} {to_text(node.right)}"
    if isinstance(node, In):
        items = ", ".join(to_text(i) for i in node.items)
        return f"{to_text(node.left)} {'not in' if node.negated else 'in'} [{items}]"
    if isinstance(node, And):
        return " and ".join(_paren(i, Or) for i in node.items)
    if isinstance(node, Or):
        return " or ".join(to_text(i) for i in node.items)
    if isinstance(node, Not):
        return f"not {_paren(node.item, (And, Or, Compare, In))}"
    raise TypeError(node)


def _paren(node: Node, kinds: type | tuple[Any, ...] = (Binary, And, Or, Compare)) -> str:
    text = to_text(node)
    return f"({text})" if isinstance(node, kinds) else text


def fmt_number(value: float | int) -> str:
    """A number as people write it: no exponent, no trailing zeros."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text
