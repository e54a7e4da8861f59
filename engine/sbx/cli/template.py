"""The subset of Go's text/template that docker's ``--format`` uses, with docker's functions.

Supported: ``{{.Field.Chain}}`` on dicts and objects, methods with arguments
(``{{.Label "k"}}``), variables (``$``, ``{{$v := ...}}``, ``{{range $k, $v := ...}}``),
pipelines (``{{.Names | upper}}``), parentheses, ``if``/``else if``/``else``, ``range``
(with ``else``), ``with``, comments, trim markers ``{{-``/``-}}``, and the functions
``and or not len index slice eq ne lt le gt ge print printf println`` plus docker's
``json split join title lower upper pad truncate``.  :func:`render` adds docker's
``table`` prefix: a header row from a field-to-header mapping, then tabwriter alignment.
Error wording follows Go's so that messages look like docker's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from sbx.cli.template_syntax import Node, ParseError, parse_nodes
from sbx.errors import InvalidArgument

TYPE_CHECKING = False  # typing.TYPE_CHECKING would import typing (~3 ms at CLI start)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Template", "render", "preprocess", "go_str"]


class _Missing:
    """A map entry that does not exist (Go's invalid reflect.Value, printed "<no value>")."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()

# ------------------------------------------------------------------ values

def go_str(v: Any) -> str:
    """Format a value as Go's ``fmt.Sprint`` would for the matching Go type."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v[k])}" for k in sorted(v, key=str)) + "]"
    fields = getattr(v, "__dataclass_fields__", None)
    if fields:
        return "{" + " ".join(go_str(getattr(v, f)) for f in fields) + "}"
    return str(v)


def _truth(v: Any) -> bool:
    if v is MISSING or v is None:
        return False
    if isinstance(v, (bool, int, float, str, list, tuple, dict)) or isinstance(v, Mapping):
        return bool(v)
    return True


def _json_default(o: Any) -> Any:
    if o is MISSING:
        return None
    if hasattr(o, "to_json") and callable(o.to_json):
        return o.to_json()
    fields = getattr(o, "__dataclass_fields__", None)
    if fields:
        return {f: getattr(o, f) for f in fields}
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"json: unsupported type: {type(o).__name__}")


def _json(v: Any) -> str:
    import json

    return json.dumps(None if v is MISSING else v, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Mapping):
            item = item.get(key, MISSING)
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise ValueError(f"error calling index: index out of range: {key}")
            item = item[key]
        elif item is None or item is MISSING:
            raise ValueError("error calling index: index of untyped nil")
        else:
            raise ValueError(f"error calling index: can't index item of type {type(item).__name__}")
    return item


def _printf(fmt: str, *args: Any) -> str:
    it = iter(args)

    def conv(m: re.Match[str]) -> str:
        flags, width, prec, verb = m.group(1), m.group(2) or "", m.group(3), m.group(4)
        if verb == "%":
            return "%"
        try:
            v = next(it)
        except StopIteration:
            return f"%!{verb}(MISSING)"
        spec = flags + width + (f".{prec}" if prec is not None else "")
        if verb in "dxXob" and isinstance(v, (int, float)) and not isinstance(v, bool):
            return f"%{spec}{verb}" % int(v) if verb != "b" else format(int(v), spec + "b")
        if verb in "feEgG" and isinstance(v, (int, float)):
            return f"%{spec}{verb}" % v
        if verb == "q":
            from sbx.cli.format import go_quote

            return f"%{flags}{width}s" % go_quote(go_str(v))
        return f"%{flags}{width}s" % (go_str(v)[: int(prec)] if prec and verb == "s" else go_str(v))

    return re.sub(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])", conv, fmt)


def _sprint(*args: Any) -> str:
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(a))
    return "".join(out)


def _compare(op: str) -> Callable[..., bool]:
    def cmp(a: Any, *bs: Any) -> bool:
        if op == "eq":
            if not bs:
                raise ValueError("missing argument for comparison")
            return any(a == b for b in bs)
        b = bs[0]
        num = (int, float)
        if isinstance(a, num) != isinstance(b, num) or (not isinstance(a, num) and type(a) is not type(b)):
            raise ValueError("incompatible types for comparison")
        return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
    return cmp


def _title(s: str) -> str:
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), s)


def _truncate(s: str, n: int) -> str:
    return s if len(s) < n else s[:n]


FUNCS: dict[str, Callable[..., Any]] = {
    "not": lambda v: not _truth(v),
    "len": lambda v: len(v),
    "index": _index,
    "slice": lambda v, *ix: v[slice(*ix)] if ix else v,
    "eq": _compare("eq"), "ne": _compare("ne"), "lt": _compare("lt"),
    "le": _compare("le"), "gt": _compare("gt"), "ge": _compare("ge"),
    "print": _sprint,
    "printf": _printf,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "json": _json,
    "split": lambda s, sep: s.split(sep) if sep else list(s),
    "join": lambda items, sep: sep.join(go_str(x) for x in (items or [])),
    "title": _title,
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "pad": lambda s, pre, post: " " * int(pre) + go_str(s) + " " * int(post),
    "truncate": _truncate,
}
_HEADER_FUNCS: dict[str, Callable[..., Any]] = {
    **FUNCS, **{k: (lambda v, *_: v) for k in ("json", "split", "join", "title", "lower",
                                                 "upper", "pad", "truncate", "index")},
}


# ------------------------------------------------------------------ execution

class _ExecError(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node


class _State:
    def __init__(self, funcs: Mapping[str, Callable[..., Any]], strict: bool,
                 headers: Mapping[str, str] | None) -> None:
        self.funcs, self.strict, self.headers = funcs, strict, headers
        self.vars: list[tuple[str, Any]] = []
        self.out: list[str] = []

    def walk(self, nodes: list[Node], dot: Any) -> None:
        for n in nodes:
            if n.kind == "text":
                self.out.append(n.a)
            elif n.kind == "action":
                val = self.pipe(n.a, dot)
                if not n.a.a:
                    self.out.append(go_str(val))
            elif n.kind in ("if", "with"):
                mark = len(self.vars)
                val = self.pipe(n.a, dot)
                if _truth(val):
                    self.walk(n.b, val if n.kind == "with" else dot)
                else:
                    del self.vars[mark:]
                    self.walk(n.c, dot)
                del self.vars[mark:]
            elif n.kind == "range":
                self.range(n, dot)

    def range(self, n: Node, dot: Any) -> None:
        mark = len(self.vars)
        decl = n.a.a
        val = self.pipe(n.a, dot, declare=False)
        if val is MISSING or val is None:
            pairs: list[tuple[Any, Any]] = []
        elif isinstance(val, Mapping):
            pairs = [(k, val[k]) for k in sorted(val, key=str)]
        elif isinstance(val, (list, tuple)):
            pairs = list(enumerate(val))
        elif isinstance(val, int) and not isinstance(val, bool):
            pairs = [(i, i) for i in range(val)]
        else:
            raise _ExecError(n.a, f"range can't iterate over {go_str(val)}")
        for k, v in pairs:
            if len(decl) == 1:
                self.vars.append((decl[0], v))
            elif len(decl) == 2:
                self.vars.extend(((decl[0], k), (decl[1], v)))
            self.walk(n.b, v)
            del self.vars[mark:]
        if not pairs:
            self.walk(n.c, dot)

    def pipe(self, p: Node, dot: Any, declare: bool = True) -> Any:
        val: Any = _NOARG
        for cmd in p.b:
            val = self.command(cmd, dot, val)
        decl = p.a
        if decl and declare:
            if p.c:
                for i in range(len(self.vars) - 1, -1, -1):
                    if self.vars[i][0] == decl[0]:
                        self.vars[i] = (decl[0], val)
                        break
                else:
                    raise _ExecError(p, f"undefined variable: {decl[0]}")
            else:
                self.vars.append((decl[0], val))
        return val

    def command(self, cmd: Node, dot: Any, final: Any) -> Any:
        first, args = cmd.a[0], cmd.a[1:]
        if first.kind == "func":
            return self.call(first, args, dot, final)
        if first.kind == "field" or (first.kind == "chain" and (args or final is not _NOARG)):
            return self.field(first, dot, args, final)
        if args or final is not _NOARG:
            raise _ExecError(first, f"can't give argument to non-function {first.text}")
        return self.arg(first, dot)

    def call(self, fn: Node, args: list[Node], dot: Any, final: Any) -> Any:
        name = fn.a
        if name in ("and", "or"):
            operands: list[Any] = [*args, *([] if final is _NOARG else [_Value(final)])]
            if not operands:
                raise _ExecError(fn, f"wrong number of args for {name}: want at least 1 got 0")
            v: Any = None
            for op in operands:  # evaluated lazily: and/or stop early, as in Go 1.18+
                v = op.value if isinstance(op, _Value) else self.arg(op, dot)
                if _truth(v) != (name == "and"):
                    return v
            return v
        values = [self.arg(a, dot) for a in args]
        if final is not _NOARG:
            values.append(final)
        try:
            return self.funcs[name](*values)
        except _ExecError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            msg = str(exc)
            raise _ExecError(fn, msg if msg.startswith("error calling") else
                             f"error calling {name}: {msg}") from None

    def arg(self, n: Node, dot: Any) -> Any:
        k = n.kind
        if k == "const":
            return n.a
        if k == "dot":
            return dot
        if k == "field":
            return self.field(n, dot, [], _NOARG)
        if k == "var":
            return self.var(n)
        if k == "paren":
            return self.pipe(n.a, dot)
        if k == "chain":
            return self.field(n, dot, [], _NOARG)
        if k == "func":
            return self.call(n, [], dot, _NOARG)
        raise _ExecError(n, f"can't handle {n.text}")

    def var(self, n: Node) -> Any:
        for name, value in reversed(self.vars):
            if name == n.a:
                return value
        raise _ExecError(n, f"undefined variable: {n.a}")

    def field(self, n: Node, dot: Any, args: list[Node], final: Any) -> Any:
        if n.kind == "chain":
            recv = self.arg(n.a, dot)
            names = n.b
        else:
            recv, names = dot, n.a
        if self.headers is not None:
            return self.header(names)
        for i, name in enumerate(names):
            last = i == len(names) - 1
            recv = self.lookup(n, recv, name, args if last else [],
                               final if last else _NOARG, dot)
        return recv

    def header(self, names: list[str]) -> str:
        assert self.headers is not None
        for key in (".".join(names), names[-1]):
            if key in self.headers:
                return self.headers[key]
        return names[-1].upper()

    def lookup(self, n: Node, recv: Any, name: str, args: list[Node], final: Any,
               dot: Any) -> Any:
        has_args = bool(args) or final is not _NOARG
        if isinstance(recv, Mapping):
            if name in recv:
                val = recv[name]
            elif self.strict:
                raise _ExecError(n, f'map has no entry for key "{name}"')
            else:
                val = MISSING
            if has_args and not callable(val):
                raise _ExecError(n, f"{name} is not a method but has arguments")
        elif recv is None or recv is MISSING:
            raise _ExecError(n, f"nil pointer evaluating interface {{}}.{name}")
        else:
            val = getattr(recv, name, MISSING) if not name.startswith("_") else MISSING
            if val is MISSING:
                raise _ExecError(n, f"can't evaluate field {name} in type {type(recv).__name__}")
            if has_args and not callable(val):
                raise _ExecError(n, f"{name} is not a method but has arguments")
        if callable(val) and not isinstance(val, type):
            values = [self.arg(a, dot) for a in args]
            if final is not _NOARG:
                values.append(final)
            try:
                return val(*values)
            except (TypeError, ValueError, KeyError) as exc:
                raise _ExecError(n, f"error calling {name}: {exc}") from None
        return val


_NOARG = object()


class _Value:
    """A value already computed (the piped-in final argument of and/or)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Template:
    """A parsed template; :meth:`execute` renders it against one value."""

    def __init__(self, text: str, nodes: list[Node], funcs: Mapping[str, Callable[..., Any]],
                 name: str) -> None:
        self.text, self._nodes, self._funcs, self.name = text, nodes, funcs, name

    @classmethod
    def parse(cls, text: str, *, name: str = "",
              funcs: Mapping[str, Callable[..., Any]] | None = None) -> Template:
        """Parse ``text``; raises InvalidArgument "template parsing error: template: :1: ..."."""
        all_funcs = {**FUNCS, "and": None, "or": None, **(funcs or {})}
        try:
            nodes = parse_nodes(text, all_funcs)
        except ParseError as exc:
            line = text.count("\n", 0, exc.pos) + 1
            raise InvalidArgument(f"template parsing error: template: {name}:{line}: {exc}",
                                  hint="check the --format template (Go text/template syntax)") from None
        return cls(text, nodes, {**FUNCS, **(funcs or {})}, name)

    def execute(self, data: Any, *, strict: bool = False,
                headers: Mapping[str, str] | None = None) -> str:
        """Render against ``data``.  ``strict`` makes a missing map key an error (Go's
        missingkey=error, as docker inspect uses); ``headers`` renders the table header."""
        funcs = _HEADER_FUNCS if headers is not None else self._funcs
        if headers is not None:
            funcs = {**self._funcs, **funcs}
        state = _State(funcs, strict, headers)
        state.vars.append(("$", data))
        try:
            state.walk(self._nodes, data)
        except _ExecError as exc:
            if headers is not None:  # docker ignores errors while rendering the header
                return "".join(state.out)
            pos = exc.node.pos
            line_start = self.text.rfind("\n", 0, pos) + 1
            line = self.text.count("\n", 0, pos) + 1
            raise InvalidArgument(
                f'template: {self.name}:{line}:{pos - line_start}: executing "{self.name}" '
                f"at <{exc.node.text}>: {exc}",
                hint="check the field names in --format") from None
        return "".join(state.out)


def preprocess(fmt: str) -> tuple[bool, str]:
    """Apply docker's format preprocessing: detect and strip "table", trim spaces, and turn
    the two-character sequences ``\\t`` and ``\\n`` into a tab and a newline."""
    is_table = fmt.startswith("table")
    if is_table:
        fmt = fmt[len("table"):]
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return is_table, fmt


def render(fmt: str, items: Iterable[Any], headers: Mapping[str, str] | None = None, *,
           funcs: Mapping[str, Callable[..., Any]] | None = None, strict: bool = False) -> str:
    """Render ``items`` with a docker ``--format`` string, one line per item.

    With a ``table`` prefix the first line is the header (each field replaced through
    ``headers``, e.g. {"ID": "CONTAINER ID"}; unknown fields show their upper-cased
    name) and columns are aligned like docker's tabwriter.
    """
    is_table, text = preprocess(fmt)
    tmpl = Template.parse(text, funcs=funcs)
    lines = []
    if is_table:
        lines.append(tmpl.execute({}, headers=headers or {}) + "\n")
    lines.extend(tmpl.execute(item, strict=strict) + "\n" for item in items)
    out = "".join(lines)
    if is_table:
        from sbx.cli.format import tabwrite

        out = tabwrite(out)
    return out
