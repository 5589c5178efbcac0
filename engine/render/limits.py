"""Bounds on what a template may compute. Templates are code that sales ops edit: the
sandbox keeps them away from Python's internals and from files; these limits keep them
from exhausting memory or time (issue 17: `{{ 'x' * 10**9 }}` wrote 2.8 GB, `{{ 9**(9**9) }}`
never finished). Each refusal is a template error at the template's line.

- a text or list a template builds (an operator, a call, a filter): MAX_VALUE characters
  or items, checked before it is built where its size is known in advance;
- a whole number: MAX_INT_DIGITS digits (Python's own limit for printing one);
- the text written while rendering one document, into the document and into the buffers
  of macros, {% set %} and {% filter %} blocks: MAX_TEXT characters;
- RENDER_SECONDS per document, checked at every loop iteration, call, operator, attribute
  and filter (the clock is read at every TICKS-th of them; `name.attr` read inline from a
  plain dict is not counted: it runs once per loop iteration or call around it, which are);
- recursion (a macro or include that calls itself): Python's recursion limit, reported
  at the template line where it happened.
"""
from __future__ import annotations

import copy
import importlib
import inspect
import math
import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from io import StringIO
from itertools import islice
from typing import Any

from jinja2 import Template, nodes
from jinja2.bccache import Bucket, BytecodeCache
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError, TemplateRuntimeError, TemplateSyntaxError
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

MAX_VALUE = 1_000_000
MAX_INT_DIGITS = 4300
MAX_TEXT = 20_000_000
BLOCK = 512  # chunks a document's text is counted by
RENDER_SECONDS = 5.0
_MAX_INT_BITS = int(MAX_INT_DIGITS * math.log2(10))
# filters whose int arguments are widths or counts of what they build
_SIZED_FILTERS = ("center", "indent", "batch", "slice")
# filters that make one text of a whole value (a list of long texts prints long)
_WHOLE_FILTERS = ("string", "tojson", "pprint", "urlencode", "join", "sum", "e", "escape", "forceescape")
_WIDTH_METHODS = ("center", "ljust", "rjust", "zfill")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateLimitError(SecurityError):
    """A template went past one of the limits above."""


@dataclass(slots=True)  # render() updates `text` for every piece of a document
class _Budget:
    deadline: float
    text: int = 0


_budget: ContextVar[_Budget | None] = ContextVar("kam_render_budget", default=None)
# the clock is read at every TICKS-th tick: a tick is at most one loop iteration, call,
# operator, attribute or filter apart from the next, so the check stays within microseconds
# of the deadline (reading the clock at every attribute cost as much as reading the attribute)
TICKS = 64
_countdown = TICKS


def _tick() -> None:
    global _countdown
    _countdown -= 1
    if _countdown < 0:
        _countdown = TICKS
        _check_clock()


def _check_clock() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateLimitError(f"rendering took more than {RENDER_SECONDS:g} s (a loop or recursion "
                                 "that does not end?)")


def _wrote(n: int) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.text += n
        if budget.text > MAX_TEXT:
            raise TemplateLimitError(f"the template wrote more than {MAX_TEXT} characters for one document")


def _too_big(what: str, size: int) -> TemplateLimitError:
    return TemplateLimitError(f"{what} would be {size} characters or items long; a template may "
                              f"build at most {MAX_VALUE}")


def _size(value: Any) -> int:
    """About how many characters `value` prints as, counted up to just past MAX_VALUE (a
    list holding one long text a million times is short but prints long)."""
    total, stack = 0, [value]
    while stack and total <= MAX_VALUE:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, dict):
            total += 1
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += 1
            stack.extend(v)
        else:
            total += 1
    return total


def _check_value(what: str, value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE:
        raise _too_big(what, len(value))
    return value


def _percent_widths(fmt: str, args: Any) -> None:
    """`'%0999999999d' % 1`, `'%*d' % (10**9, 1)`: the width is the size."""
    starred = False
    for m in _PERCENT_SPEC.finditer(fmt):
        for part in m.groups():
            if part == "*":
                starred = True
            elif part is not None and int(part) > MAX_VALUE:
                raise _too_big("a %-format", int(part))
    if starred:
        values = args if isinstance(args, tuple) else (args,)
        for v in values:
            if isinstance(v, int) and abs(v) > MAX_VALUE:
                raise _too_big("a %-format", abs(v))


def _format_widths(fmt: str, args: Iterable[Any]) -> None:
    """`'{:>999999999}'.format(1)`, and `'{:{w}}'` with a huge w."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # format() itself will say what is wrong
    for _, _, spec, _ in fields:
        for digits in re.findall(r"\d+", spec or ""):
            if int(digits) > MAX_VALUE:
                raise _too_big("a format", int(digits))
        if spec and "{" in spec:
            for v in args:
                if isinstance(v, int) and abs(v) > MAX_VALUE:
                    raise _too_big("a format", abs(v))


def _binop_size(op: str, left: Any, right: Any) -> None:
    ints = isinstance(left, int) and isinstance(right, int)
    if op == "**" and ints and right > 0 and abs(left) > 1:
        if right * math.log2(abs(left)) > _MAX_INT_BITS:
            raise TemplateLimitError(f"'**' would make a number of more than {MAX_INT_DIGITS} digits")
    elif op == "*" and ints:
        if left.bit_length() + right.bit_length() > _MAX_INT_BITS + 1:
            raise TemplateLimitError(f"'*' would make a number of more than {MAX_INT_DIGITS} digits")
    elif op == "*":
        seq, n = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(n, int) and isinstance(seq, (str, list, tuple)) and _size(seq) * max(n, 0) > MAX_VALUE:
            raise _too_big("'*'", _size(seq) * n)
    elif op == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        if _size(left) + _size(right) > MAX_VALUE:
            raise _too_big("'+'", _size(left) + _size(right))
    elif op == "%" and isinstance(left, str):
        _percent_widths(left, right)


def _str_method(obj: Any) -> tuple[str, str] | None:
    """(the text, the method name) when `obj` is a method of a str."""
    target = getattr(obj, "__wrapped__", obj)  # str.format comes wrapped by the sandbox
    if isinstance(target, types.BuiltinMethodType) and isinstance(target.__self__, str):
        return target.__self__, target.__name__
    return None


def _method_size(s: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The str methods that build far more than they are given."""
    if name in _WIDTH_METHODS and args and isinstance(args[0], int) and args[0] > MAX_VALUE:
        raise _too_big(f"str.{name}", args[0])
    if name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tab, int) and len(s) + s.count("\t") * tab > MAX_VALUE:
            raise _too_big("str.expandtabs", len(s) + s.count("\t") * tab)
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _replace_size(s, args[0], args[1])
    if name == "join" and args:
        _join_size(args[0], s)
    if name == "format":
        _format_widths(s, list(args) + list(kwargs.values()))
    if name == "format_map" and args and isinstance(args[0], dict):
        _format_widths(s, list(args[0].values()))


def _replace_size(s: str, old: str, new: str) -> None:
    times = s.count(old) if old else len(s) + 1
    size = len(s) + times * (len(new) - len(old))
    if size > MAX_VALUE:
        raise _too_big("replace", size)


def _join_size(items: Iterable[Any], sep: str) -> None:
    items = list(items)
    size = sum(_size(i) for i in items) + len(sep) * max(len(items) - 1, 0)
    if size > MAX_VALUE:
        raise _too_big("join", size)


class _Ticking:
    """A loop's iterable that checks the render clock at every item."""

    def __init__(self, iterable: Any):
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        global _countdown
        for item in self.iterable:
            _countdown -= 1  # _tick(), inline
            if _countdown < 0:
                _countdown = TICKS
                _check_clock()
            yield item

    def __len__(self) -> int:  # loop.length and loop.last without reading ahead
        return len(self.iterable)


class _Buffer(list[Any]):
    """The buffer of a macro or block: what the template writes into it counts."""

    def append(self, text: Any) -> None:
        _wrote(len(text))
        super().append(text)

    def extend(self, texts: Iterable[Any]) -> None:
        texts = list(texts)
        _wrote(sum(len(t) for t in texts))
        super().extend(texts)


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator with two hooks: every for loop iterates through
    environment.ticking, every buffer is a counting one."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        node = copy.copy(node)
        node.iter = nodes.Call(nodes.EnvironmentAttribute("ticking"), [node.iter], [], None, None,
                               lineno=node.lineno)
        super().visit_For(node, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, *args: Any, **kwargs: Any) -> None:
        """environment.ticking(...) is called directly: the sandbox's call() is for what a
        template calls, ticking is kam's own (a template cannot name an EnvironmentAttribute)."""
        if isinstance(node.node, nodes.EnvironmentAttribute) and node.node.name == "ticking":
            self.write("environment.ticking(")
            self.visit(node.args[0], frame)
            self.write(")")
        else:
            super().visit_Call(node, frame, *args, **kwargs)

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        """`name.attr` on a plain dict reads the item inline, without a call to the sandbox's
        getattr (most of what a document prints is `plan.x`, `s.title`, `labels.y`): the
        same as LimitedSandbox.getattr's first branch. The variable is a Python local (the
        `missing` marker when undefined, which is no dict: then the sandbox's getattr gets
        the Undefined as before)."""
        if (self.environment.is_async or node.ctx != "load" or not isinstance(node.node, nodes.Name)
                or node.attr in _DICT_ATTRIBUTES):
            super().visit_Getattr(node, frame)
            return
        self.write("(")  # any pending new line goes to the module, not into `name`
        stream, self.stream = self.stream, StringIO()
        try:
            self.visit(node.node, frame)
            name = self.stream.getvalue()  # the local, or `(undefined(...) if local is missing else local)`
        finally:
            self.stream = stream
        local, attr = frame.symbols.ref(node.node.name), repr(node.attr)
        self.write(f"{local}[{attr}] if {local}.__class__ is dict and {attr} in {local} "
                   f"else environment.getattr({name}, {attr}))")

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        """What `{{ x }}` prints goes through one call, environment.print_html or print_text
        (finalize, then escape or str), not three or four; an autoescape that changes at
        run time keeps Jinja's code."""
        if frame.eval_ctx.volatile:
            super()._output_child_pre(node, frame, finalize)
        elif frame.eval_ctx.autoescape:
            self.write("environment.print_html(")
        else:
            self.write("environment.print_text(")

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile:
            super()._output_child_post(node, frame, finalize)
        else:
            self.write(")")

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.counting_buffer()")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """`a ~ b` joins through environment.concat_parts, which measures the parts first."""
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"{func_name}(environment.concat_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the limits of this module."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, *args: Any, finalize: Callable[[Any], Any] = lambda v: v, finalize_keeps_ascii: bool = False,
                 **kwargs: Any) -> None:
        """finalize_keeps_ascii: `finalize` returns an ASCII str as it is, so printing one
        need not call it."""
        measured = self._measured

        def finalized(value: Any) -> Any:  # a text (most of what prints) needs no measuring
            return finalize(value if value.__class__ is str else measured(value))

        super().__init__(*args, finalize=finalized, **kwargs)
        self.print_html, self.print_text = _printers(finalize, finalized, finalize_keeps_ascii)
        self.globals["lipsum"] = _lipsum
        for name in _SIZED_FILTERS + _WHOLE_FILTERS + ("replace", "wordwrap", "format"):
            self.filters[name] = _limited_filter(name, self.filters[name])

    def make_globals(self, d: Any) -> dict[str, Any]:
        """A template's globals as one dict, not Jinja's ChainMap over the environment's:
        every render and include builds a context from them (dict() and set() of a
        ChainMap go through Python, key by key). Jinja asks not to change the globals
        once a template is loaded; kam sets them in __init__ only."""
        return {**self.globals, **(d or {})}

    @staticmethod
    def ticking(iterable: Any) -> _Ticking:
        return _Ticking(iterable)

    @staticmethod
    def counting_buffer() -> _Buffer:
        return _Buffer()

    @staticmethod
    def concat_parts(parts: tuple[Any, ...]) -> tuple[Any, ...]:
        _tick()
        size = sum(_size(p) for p in parts)
        if size > MAX_VALUE:
            raise _too_big("'~'", size)
        return parts

    @staticmethod
    def _measured(value: Any) -> Any:
        if not isinstance(value, (str, int, float)) and _size(value) > MAX_VALUE:
            raise _too_big("printing this value", _size(value))
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _binop_size(operator, left, right)
        try:
            return super().call_binop(context, operator, left, right)
        except OverflowError:
            raise TemplateLimitError(f"'{operator}' makes a number too large") from None
        except (ArithmeticError, TypeError) as exc:  # the template's own operands: its error
            raise TemplateRuntimeError(f"'{operator}': {exc}") from None

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        for a in args + tuple(kwargs.values()):  # a macro passing itself `s ~ s` doubles per call
            _check_value("an argument", a)
        method = _str_method(__obj)
        if method is not None:
            if method[1] == "join" and args:
                args = (list(args[0]),) + args[1:]  # read once: to measure it, then to join it
            _method_size(*method, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        # what a macro writes is counted as it is written (MAX_TEXT)
        return result if isinstance(__obj, Macro) else _check_value("the call's result", result)

    # reading a value amplifies nothing: the data kam hands a template (a portfolio report's
    # chart of 100,000 accounts is over a million characters) is bounded by MAX_TEXT when
    # printed, not by MAX_VALUE, which is for what the template itself builds
    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if obj.__class__ is dict and attribute not in _DICT_ATTRIBUTES:
            # what the sandbox does for it, without the AttributeError: a dict has no
            # attribute of that name, so the template reads the item
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=attribute)
        if obj.__class__ is LoopContext and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, attribute)  # loop.index, loop.last: what the sandbox allows
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)


# every attribute a dict instance has (its type's and object's): `d.items` is the method,
# `d.title` the item 'title'
_DICT_ATTRIBUTES = frozenset(dir(dict))
# a for loop's `loop`: its public attributes, which the sandbox lets a template read
_LOOP_ATTRIBUTES = frozenset(a for a in dir(LoopContext) if not a.startswith("_"))


def _printers(finalize: Callable[[Any], Any], finalized: Callable[[Any], Any], keeps_ascii: bool
              ) -> tuple[Callable[[Any], str], Callable[[Any], str]]:
    """Jinja prints a value as escape(environment.finalize(v)) in HTML, str(...) else. The
    pieces of a document are only ever joined, so a str does as well as a Markup: a text
    (most of what prints) is escaped without making a Markup of it, one call in all; an
    ASCII text skips a finalize that keeps it as it is."""

    def print_html(value: Any) -> str:
        if value.__class__ is str:
            if keeps_ascii and value.isascii():
                return _escape_text(value)
            value = finalize(value)  # finalized() does not measure a str
            if value.__class__ is str:
                return _escape_text(value)
            return escape(value)
        return escape(finalized(value))

    def print_text(value: Any) -> str:
        if value.__class__ is str:
            if keeps_ascii and value.isascii():
                return value
            value = finalize(value)
            return value if value.__class__ is str else str(value)
        return str(finalized(value))

    return print_html, print_text


def _text_escaper() -> Callable[[str], str]:
    """markupsafe's escaping of a str, as a str: str(escape(s)) without the Markup."""
    probe = "<a href=\"x\" title='y'>&amp; é</a>"
    for module in ("markupsafe._speedups", "markupsafe._native"):
        try:
            inner: Callable[[str], str] = importlib.import_module(module)._escape_inner
        except (ImportError, AttributeError):
            continue
        if inner(probe) == str(escape(probe)):
            return inner
    return lambda s: str(escape(s))


_escape_text = _text_escaper()


def _limited_filter(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(real)
    # the filtered value: the first parameter after the environment or eval context, if passed
    value_name = list(signature.parameters)[1 if hasattr(real, "jinja_pass_arg") else 0]
    # the parameters a call can fill by position: signature.bind of positional arguments only
    # is these names zipped with them (bind takes ~10 us; `x|join(", ")` is such a call)
    positional = []
    for param in signature.parameters.values():
        if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            break
        positional.append(param.name)

    def limited(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if not kwargs and len(args) <= len(positional):
            given = dict(zip(positional, args))  # too few: real() below says what is missing
        else:
            try:
                given = signature.bind(*args, **kwargs).arguments
            except TypeError:
                return real(*args, **kwargs)  # a wrong call: the filter says what is wrong
        value = given.get(value_name)
        if name in _SIZED_FILTERS:
            for key, v in given.items():
                if key != value_name and isinstance(v, int) and not isinstance(v, bool) and v > MAX_VALUE:
                    raise _too_big(f"filter '{name}'", v)
        if name in _WHOLE_FILTERS and _size(value) > MAX_VALUE:
            raise _too_big(f"filter '{name}'", _size(value))
        if name == "join" and isinstance(value, (list, tuple)) and isinstance(given.get("d", ""), str):
            _join_size(value, given.get("d", ""))
        if name == "replace" and isinstance(value, str) and isinstance(given.get("old"), str) \
                and isinstance(given.get("new"), str):
            _replace_size(value, given["old"], given["new"])
        if name == "indent" and isinstance(value, str):
            width = given.get("width", 4)
            pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
            if len(value) + (value.count("\n") + 1) * pad > MAX_VALUE:
                raise _too_big(f"filter '{name}'", len(value) + (value.count("\n") + 1) * pad)
        if name == "wordwrap" and isinstance(value, str):
            width, wrap = given.get("width", 79), given.get("wrapstring") or "\n"
            size = len(value) + (len(value) // max(width, 1) + 1) * len(wrap) if isinstance(width, int) else 0
            if size > MAX_VALUE:
                raise _too_big(f"filter '{name}'", size)
        if name == "format" and isinstance(value, str):
            _percent_widths(value, tuple(given.get("args", ())))
        return _check_value(f"filter '{name}'", real(*args, **kwargs))

    for attr in ("jinja_pass_arg", "__name__", "__doc__"):  # keep how Jinja calls it
        if hasattr(real, attr):
            setattr(limited, attr, getattr(real, attr))
    return limited


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    from jinja2.utils import generate_lorem_ipsum

    if n * max > MAX_VALUE:
        raise _too_big("lipsum", n * max)
    return generate_lorem_ipsum(n, html, min, max)


class _Bucket(Bucket):
    """A Bucket that also keeps whether its template is autoescaped (see get_bucket)."""

    kam_autoescape: bool | None = None


class CompiledTemplates(BytecodeCache):
    """Templates compiled once per process: environment() is called for every run, check
    and (in workers) chunk, and compiling the default templates takes ~0.2 s of CPU. A
    template is still read through its loader at each load (and a link out of the project
    refused); its code is reused when the name, the file, the source (sha1) and every
    setting of the environment that shapes the code are the same."""

    def __init__(self) -> None:
        self.codes: dict[tuple[Any, ...], types.CodeType] = {}

    @staticmethod
    def _key(bucket: Bucket) -> tuple[Any, ...]:
        env = bucket.environment
        return (bucket.key, bucket.checksum, type(env), env.code_generator_class,
                env.block_start_string, env.block_end_string, env.variable_start_string,
                env.variable_end_string, env.comment_start_string, env.comment_end_string,
                env.line_statement_prefix, env.line_comment_prefix, env.trim_blocks, env.lstrip_blocks,
                env.newline_sequence, env.keep_trailing_newline, env.optimized, env.is_async,
                env.finalize is not None, getattr(env.finalize, "jinja_pass_arg", None),
                tuple(sorted(env.extensions)), env.autoescape if not callable(env.autoescape) else None,
                getattr(bucket, "kam_autoescape", None))

    def get_bucket(self, environment: Any, name: str, filename: str | None, source: str) -> Bucket:
        key, checksum = self.get_cache_key(name, filename), self.get_source_checksum(source)
        bucket = _Bucket(environment, key, checksum)
        # whether the template is autoescaped, which a callable decides by its name
        bucket.kam_autoescape = environment.autoescape(name) if callable(environment.autoescape) else None
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        bucket.code = self.codes.get(self._key(bucket))

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self.codes[self._key(bucket)] = bucket.code

    def clear(self) -> None:
        self.codes.clear()


COMPILED = CompiledTemplates()


def load(env: LimitedSandbox, name: str) -> Template:
    """env.get_template; a template nested too deeply for Jinja's compiler (which recurses
    once per level: `{{ 1 + 1 + ... }}`) or for Python's is a syntax error of the template."""
    try:
        return env.get_template(name)
    except (RecursionError, SyntaxError, MemoryError):
        raise TemplateSyntaxError("nested too deeply to compile", 0, name) from None


def render(template: Template, context: dict[str, Any]) -> str:
    """The template rendered within the limits; RecursionError and MemoryError become
    template errors where they happened."""
    budget = _Budget(time.monotonic() + RENDER_SECONDS)
    token = _budget.set(budget)
    parts: list[str] = []
    append, limit = parts.append, MAX_TEXT
    try:
        # template.generate(**context), minus a generator between the template and this loop.
        # A plan is ~250 small chunks: they are taken and joined BLOCK at a time in C, and the
        # text counted per block (a loop over each chunk was a third of rendering's time)
        try:
            chunks = template.root_render_func(template.new_context(context))
            while block := list(islice(chunks, BLOCK)):
                text = "".join(block)
                budget.text += len(text)  # _wrote(), inline
                if budget.text > limit:
                    break
                append(text)
        except Exception:
            template.environment.handle_exception()  # the template's own line in the traceback
        _wrote(0)  # past MAX_TEXT: raises
    except RecursionError as exc:
        raise TemplateLimitError("recursion too deep (a macro or include that calls itself?)"
                                 ).with_traceback(exc.__traceback__) from None
    except MemoryError as exc:
        raise TemplateLimitError("out of memory while rendering").with_traceback(exc.__traceback__) from None
    finally:
        _budget.reset(token)
    return "".join(parts)
