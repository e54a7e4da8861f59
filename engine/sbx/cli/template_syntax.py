"""The syntax half of the Go text/template subset: lexing actions and parsing them into nodes.

Go's grammar (text/template/parse): actions between ``{{`` and ``}}`` with trim markers
``{{- `` and `` -}}``, comments ``{{/* */}}``, pipelines of commands separated by "|",
operands (fields, variables, literals, functions, parenthesised pipelines) and the
``if``/``range``/``with``/``else``/``end`` structure.  :mod:`sbx.cli.template` executes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING would import typing (~3 ms at CLI start)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Node", "ParseError", "parse_nodes"]

# ------------------------------------------------------------------ lexing

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<declare>:=)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)')
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?))
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<dot>\.)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[()|=,])
""", re.VERBOSE)

_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break",
             "continue"}
_WS = " \t\r\n"


class _Tok:
    __slots__ = ("kind", "value", "pos", "adjacent")

    def __init__(self, kind: str, value: str, pos: int, adjacent: bool) -> None:
        self.kind, self.value, self.pos, self.adjacent = kind, value, pos, adjacent


class Node:
    __slots__ = ("kind", "pos", "text", "a", "b", "c", "d")

    def __init__(self, kind: str, pos: int, text: str = "", a: Any = None, b: Any = None,
                 c: Any = None, d: Any = None) -> None:
        self.kind, self.pos, self.text = kind, pos, text
        self.a, self.b, self.c, self.d = a, b, c, d


class ParseError(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos


_ESC = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"', "'": "'"}


def _unquote(tok: _Tok) -> str:
    v = tok.value
    if tok.kind == "raw":
        return v[1:-1]

    def esc(m: re.Match[str]) -> str:
        e = m.group(1)
        if e in _SIMPLE_ESC:
            return _SIMPLE_ESC[e]
        if e[0] in "xuU":
            return chr(int(e[1:], 16))
        if e[0] in "01234567" and len(e) == 3:
            return chr(int(e, 8))
        raise ParseError(tok.pos, f"malformed string {v}")

    return _ESC.sub(esc, v[1:-1])


def _lex(text: str) -> list[tuple[str, Any, int]]:
    """Split into ("text", str, pos) and ("action", [tokens], pos) items."""
    items: list[tuple[str, Any, int]] = []
    i = 0
    trim_next = False
    while True:
        j = text.find("{{", i)
        chunk = text[i:] if j < 0 else text[i:j]
        if trim_next:
            chunk = chunk.lstrip(_WS)
        if j < 0:
            if chunk:
                items.append(("text", chunk, i))
            return items
        k = j + 2
        if text[k:k + 1] == "-" and text[k + 1:k + 2] in tuple(_WS):
            chunk = chunk.rstrip(_WS)
            k += 2
        if chunk:
            items.append(("text", chunk, i))
        toks: list[_Tok] = []
        adjacent = True
        comment = False
        while True:
            if k >= len(text):
                raise ParseError(j, "unclosed action")
            if text.startswith("}}", k):
                i, trim_next = k + 2, False
                break
            if text.startswith("-}}", k) and k > 0 and text[k - 1] in _WS:
                i, trim_next = k + 3, True
                break
            if text.startswith("/*", k):
                end = text.find("*/", k + 2)
                if end < 0:
                    raise ParseError(k, "unclosed comment")
                k = end + 2
                adjacent, comment = False, True
                continue
            m = _TOKEN.match(text, k)
            if m is None:
                raise ParseError(k, f"unexpected {text[k]!r} in command")
            kind = m.lastgroup or ""
            if kind == "space":
                adjacent = False
            else:
                toks.append(_Tok(kind, m.group(), k, adjacent))
                adjacent = True
            k = m.end()
        if not toks and not comment:
            raise ParseError(j, "missing value for command")
        items.append(("action", toks, j))


# ------------------------------------------------------------------ parsing

class _Parser:
    def __init__(self, text: str, funcs: Mapping[str, Any]) -> None:
        self.text = text
        self.funcs = funcs
        self.items = _lex(text)
        self.i = 0

    def parse(self) -> list[Node]:
        body, stop = self.list_until(())
        if stop is not None:
            raise ParseError(stop[1], f"unexpected {{{{{stop[0]}}}}}")
        return body

    def list_until(self, stops: tuple[str, ...]) -> tuple[list[Node], Any]:
        out: list[Node] = []
        while self.i < len(self.items):
            kind, val, pos = self.items[self.i]
            self.i += 1
            if kind == "text":
                out.append(Node("text", pos, a=val))
                continue
            toks: list[_Tok] = val
            if not toks:
                continue  # a comment
            head = toks[0]
            if head.kind == "ident" and head.value in _KEYWORDS:
                word = head.value
                if word in ("end", "else"):
                    if word not in stops:
                        raise ParseError(pos, f"unexpected {{{{{word}}}}}")
                    return out, (word, pos, toks[1:])
                if word in ("if", "range", "with"):
                    out.append(self.block(word, pos, toks[1:]))
                    continue
                raise ParseError(pos, f"{{{{{word}}}}} is not supported")
            out.append(Node("action", pos, a=self.pipeline(toks, pos, allow_decl=True)))
        if stops:
            raise ParseError(len(self.text), "unexpected EOF")
        return out, None

    def block(self, word: str, pos: int, toks: list[_Tok]) -> Node:
        if not toks:
            raise ParseError(pos, f"missing value for {word}")
        pipe = self.pipeline(toks, pos, allow_decl=True, max_decl=2 if word == "range" else 1)
        body, stop = self.list_until(("end", "else"))
        other: list[Node] = []
        if stop[0] == "else":
            rest = stop[2]
            if rest and rest[0].kind == "ident" and rest[0].value in ("if", "with") \
                    and rest[0].value == word:
                other = [self.block(word, stop[1], rest[1:])]
                return Node(word, pos, a=pipe, b=body, c=other)
            if rest:
                raise ParseError(stop[1], "unexpected tokens after else")
            other, stop = self.list_until(("end",))
        return Node(word, pos, a=pipe, b=body, c=other)

    def pipeline(self, toks: list[_Tok], pos: int, allow_decl: bool = False,
                 max_decl: int = 1) -> Node:
        decl: list[str] = []
        assign = False
        k = 0
        if allow_decl and toks and toks[0].kind == "var":
            names = [toks[0].value]
            k = 1
            if max_decl == 2 and len(toks) > 2 and toks[1].value == "," and toks[2].kind == "var":
                names.append(toks[2].value)
                k = 3
            if k < len(toks) and toks[k].kind in ("declare", "punct") \
                    and toks[k].value in (":=", "="):
                decl, assign = names, toks[k].value == "="
                k += 1
            else:
                k = 0
        cmds: list[Node] = []
        rest = toks[k:]
        while True:
            cmd, rest = self.command(rest, pos)
            cmds.append(cmd)
            if not rest:
                break
            if rest[0].value == "|":
                rest = rest[1:]
                continue
            raise ParseError(rest[0].pos, f"unexpected {rest[0].value!r} in operand")
        return Node("pipe", pos, a=decl, b=cmds, c=assign)

    def command(self, toks: list[_Tok], pos: int) -> tuple[Node, list[_Tok]]:
        args: list[Node] = []
        while toks and toks[0].value not in ("|", ")"):
            node, toks = self.operand(toks)
            args.append(node)
        if not args:
            raise ParseError(toks[0].pos if toks else pos, "missing value for command")
        return Node("cmd", args[0].pos, a=args), toks

    def operand(self, toks: list[_Tok]) -> tuple[Node, list[_Tok]]:
        t = toks[0]
        rest = toks[1:]
        if t.kind == "field":
            node = Node("field", t.pos, a=[t.value[1:]])
        elif t.kind == "dot":
            node = Node("dot", t.pos)
        elif t.kind == "var":
            node = Node("var", t.pos, a=t.value)
        elif t.kind == "ident":
            if t.value in ("true", "false"):
                node = Node("const", t.pos, a=t.value == "true")
            elif t.value == "nil":
                node = Node("const", t.pos, a=None)
            elif t.value in _KEYWORDS:
                raise ParseError(t.pos, f"unexpected <{t.value}> in command")
            elif t.value not in self.funcs:
                raise ParseError(t.pos, f'function "{t.value}" not defined')
            else:
                node = Node("func", t.pos, a=t.value)
        elif t.kind in ("string", "raw"):
            node = Node("const", t.pos, a=_unquote(t))
        elif t.kind == "char":
            node = Node("const", t.pos, a=ord(_unquote(_Tok("string", '"' + t.value[1:-1] + '"',
                                                             t.pos, True))))
        elif t.kind == "number":
            v = t.value.replace("_", "")
            try:
                num: Any = int(v, 0) if re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|\d+)", v) \
                    else float(v)
            except ValueError:
                raise ParseError(t.pos, f"bad number syntax: {t.value!r}") from None
            node = Node("const", t.pos, a=num)
        elif t.value == "(":
            depth, k = 1, 0
            while k < len(rest) and depth:
                depth += {"(": 1, ")": -1}.get(rest[k].value if rest[k].kind == "punct" else "", 0)
                k += 1
            if depth:
                raise ParseError(t.pos, "unclosed left paren")
            node = Node("paren", t.pos, a=self.pipeline(rest[:k - 1], t.pos))
            rest = rest[k:]
        else:
            raise ParseError(t.pos, f"unexpected {t.value!r} in operand")
        chain: list[str] = []
        while rest and rest[0].kind == "field" and rest[0].adjacent:
            chain.append(rest[0].value[1:])
            rest = rest[1:]
        if chain:
            if node.kind == "field":
                node.a.extend(chain)
            elif node.kind in ("var", "paren", "dot"):
                node = Node("chain", node.pos, a=node, b=chain)
            else:
                raise ParseError(rest[0].pos if rest else t.pos, "unexpected . after term")
        end = toks[len(toks) - len(rest) - 1]
        node.text = self.text[t.pos:end.pos + len(end.value)]
        return node, rest



def parse_nodes(text: str, funcs: Mapping[str, Any]) -> list[Node]:
    """Parse template text into a node list; raises ParseError with the byte offset."""
    return _Parser(text, funcs).parse()
