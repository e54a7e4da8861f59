"""The Go text/template subset used by --format, with docker's functions and table header."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sbx.cli.template import Template, go_str, preprocess, render
from sbx.errors import InvalidArgument

DATA = {
    "ID": "f3a1b2c3d4e5",
    "Names": "web",
    "Args": ["-c", "echo hi"],
    "State": {"Status": "running", "Running": True, "ExitCode": 0, "Pid": 42},
    "Config": {"Labels": {"com.example.team": "db", "tier": "back end"}, "Env": ["A=1", "B=2"],
               "Cmd": None},
    "Mounts": [{"Source": "/srv", "Destination": "/data"}, {"Source": "/tmp", "Destination": "/t"}],
    "NetworkSettings": {"Ports": {"6379/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}]}},
    "Empty": [],
    "Size": 1.5,
    "Count": 3,
}


@pytest.mark.parametrize("tmpl, out", [
    ("{{.ID}}", "f3a1b2c3d4e5"),
    ("plain text", "plain text"),
    ("", ""),
    ("{{.State.Status}}", "running"),
    ("{{.State.Running}}", "true"),
    ("{{.State.Pid}}", "42"),
    ("{{.Size}} {{.Count}}", "1.5 3"),
    ("{{.Config.Cmd}}", "<nil>"),
    ("{{.Nope}}", "<no value>"),
    ("{{.Args}}", "[-c echo hi]"),
    ("{{.Config.Labels}}", "map[com.example.team:db tier:back end]"),
    ("{{json .}}"[:0] + "{{json .State}}", '{"Status":"running","Running":true,"ExitCode":0,"Pid":42}'),
    ("{{json .Config.Cmd}}", "null"),
    ("{{json .Args}}", '["-c","echo hi"]'),
    ('{{json "<&>"}}', '"<&>"'),
    ('{{index .Config.Labels "tier"}}', "back end"),
    ('{{index .Config.Labels "missing"}}', "<no value>"),
    ("{{index .Args 1}}", "echo hi"),
    ('{{(index (index .NetworkSettings.Ports "6379/tcp") 0).HostPort}}', "32768"),
    ("{{range .Mounts}}{{.Source}}->{{.Destination}};{{end}}", "/srv->/data;/tmp->/t;"),
    ("{{range .Empty}}x{{else}}none{{end}}", "none"),
    ("{{range $i, $m := .Mounts}}{{$i}}={{$m.Source}} {{end}}", "0=/srv 1=/tmp "),
    ("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}},{{end}}", "com.example.team:db,tier:back end,"),
    ("{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}",
     "6379/tcp -> 32768"),
    ("{{range .Mounts}}{{$.Names}}{{end}}", "webweb"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .Empty}}some{{else if .Count}}count{{else}}none{{end}}", "count"),
    ("{{if not .Empty}}empty{{end}}", "empty"),
    ('{{if eq .State.Status "running" "paused"}}alive{{end}}', "alive"),
    ('{{if ne .Names "db"}}not db{{end}}', "not db"),
    ("{{if gt .Count 2}}big{{end}}{{if lt .Count 2}}small{{end}}", "big"),
    ("{{if and .ID .Empty}}a{{else}}b{{end}}", "b"),
    ("{{or .Empty .Names}}", "web"),
    ("{{and .ID .Names}}", "web"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{with .Empty}}x{{else}}no{{end}}", "no"),
    ("{{$x := .Names}}{{$x}}-{{$x}}", "web-web"),
    ("{{$x := 1}}{{if .ID}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ("{{upper .Names}} {{lower \"ABC\"}} {{title \"hello world\"}}", "WEB abc Hello World"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ('{{split "a:b:c" ":"}}', "[a b c]"),
    ('{{.Names | upper}}', "WEB"),
    ('{{.Names | printf "%s!"}}', "web!"),
    ('{{pad .Names 1 2}}|', " web  |"),
    ('{{truncate .ID 4}}', "f3a1"),
    ("{{len .Mounts}} {{len .ID}}", "2 12"),
    ('{{println .Names "x"}}', "web x\n"),
    ('{{print .Count .Count}}{{print "a" "b"}}', "3 3ab"),
    ('{{printf "%-6s|%4d|%v|%q|%.2f|%t|%x" .Names .Count .Args .Names .Size true 255}}',
     'web   |   3|[-c echo hi]|"web"|1.50|true|ff'),
    ('{{slice .ID 0 4}}', "f3a1"),
    ("{{/* a comment */}}x", "x"),
    ("a  {{- .Names -}}  \n b", "awebb"),
    ("a {{- /* c */ -}} b", "ab"),
    ("{{-3}}", "-3"),
    ('{{"tab\\there"}} {{`raw\\t`}}', "tab\there raw\\t"),
    ("{{ .Names }}", "web"),
    ("{{.}}", go_str(DATA)),
    ('{{ "}}" }}', "}}"),
    ("{{0x10}} {{1.5}} {{true}} {{nil}}", "16 1.5 true <nil>"),
])
def test_execute(tmpl: str, out: str) -> None:
    assert Template.parse(tmpl).execute(DATA) == out


@dataclass(frozen=True)
class Ctx:
    ID: str
    labels: dict

    def Label(self, key: str) -> str:  # noqa: N802 - the template field name
        return self.labels.get(key, "")

    @property
    def Names(self) -> str:  # noqa: N802
        return "web"


def test_objects_and_methods() -> None:
    ctx = Ctx("abc", {"k": "v"})
    assert Template.parse('{{.ID}} {{.Label "k"}} {{.Names}}').execute(ctx) == "abc v web"
    assert Template.parse('{{"k" | .Label}}').execute(ctx) == "v"
    with pytest.raises(InvalidArgument) as info:
        Template.parse("{{.ID}}\n  {{.Foo}}").execute(ctx)
    assert info.value.message == \
        'template: :2:4: executing "" at <.Foo>: can\'t evaluate field Foo in type Ctx'
    with pytest.raises(InvalidArgument, match="can't evaluate field _private"):
        Template.parse("{{._private}}").execute(ctx)
    with pytest.raises(InvalidArgument, match="ID is not a method but has arguments"):
        Template.parse('{{.ID "x"}}').execute(ctx)


@pytest.mark.parametrize("tmpl, message", [
    ("{{.Foo}}", 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"'),
    ("{{.State.Nope}}", 'template: :1:2: executing "" at <.State.Nope>: map has no entry for key "Nope"'),
])
def test_strict_missing_key(tmpl: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Template.parse(tmpl).execute(DATA, strict=True)
    assert info.value.message == message


@pytest.mark.parametrize("tmpl, fragment", [
    ("{{.Nope.Deeper}}", "nil pointer evaluating interface {}.Deeper"),
    ("{{index .Args 5}}", "error calling index: index out of range: 5"),
    ("{{range .Names}}x{{end}}", "range can't iterate over web"),
    ("{{$nope}}", "undefined variable: $nope"),
    ('{{lt .Names 1}}', "error calling lt: incompatible types for comparison"),
    ('{{.Names 1}}', "Names is not a method but has arguments"),
    ('{{1 2}}', "can't give argument to non-function 1"),
])
def test_exec_errors(tmpl: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Template.parse(tmpl).execute(DATA)
    assert fragment in info.value.message
    assert info.value.message.startswith("template: :1:")


@pytest.mark.parametrize("tmpl, message", [
    ("{{.Foo", "template: :1: unclosed action"),
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{if .X}}", "template: :1: unexpected EOF"),
    ("a\n{{range .X}}", "template: :2: unexpected EOF"),
    ("{{.X | }}", "template: :1: missing value for command"),
    ("{{}}", "template: :1: missing value for command"),
    ("{{(.X}}", "template: :1: unclosed left paren"),
    ("{{define \"x\"}}{{end}}", "template: :1: {{define}} is not supported"),
    ("{{/* x }}", "template: :1: unclosed comment"),
    ("{{ # }}", "template: :1: unexpected '#' in command"),
])
def test_parse_errors(tmpl: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Template.parse(tmpl)
    assert info.value.message == f"template parsing error: {message}"


def test_custom_functions() -> None:
    tmpl = Template.parse("{{shout .Names}}", funcs={"shout": lambda s: s.upper() + "!"})
    assert tmpl.execute(DATA) == "WEB!"


@pytest.mark.parametrize("fmt, is_table, text", [
    ("table {{.ID}}\\t{{.Names}}", True, "{{.ID}}\t{{.Names}}"),
    ("{{.ID}}\\n", False, "{{.ID}}\n"),
    ("  {{.ID}}  ", False, "{{.ID}}"),
    ("table", True, ""),
])
def test_preprocess(fmt: str, is_table: bool, text: str) -> None:
    assert preprocess(fmt) == (is_table, text)


HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Label": "LABEL"}


def test_render_table() -> None:
    rows = [{"ID": "f3a1b2c3d4e5", "Names": "web"}, {"ID": "0123456789ab", "Names": "cache"}]
    assert render("table {{.ID}}\\t{{.Names}}", rows, HEADERS) == (
        "CONTAINER ID   NAMES\n"
        "f3a1b2c3d4e5   web\n"
        "0123456789ab   cache\n"
    )


def test_render_table_header_functions_pass_through() -> None:
    rows = [{"Names": "web", "Status": "Up"}]
    out = render("table {{upper .Names}}\\t{{.Status}}\\t{{json .Names}}", rows, HEADERS)
    assert out.splitlines() == ["NAMES     STATUS    NAMES", 'WEB       Up        "web"']


def test_render_table_empty_still_has_header() -> None:
    assert render("table {{.ID}}", [], HEADERS) == "CONTAINER ID\n"


def test_render_table_method_header() -> None:
    out = render('table {{.ID}}\\t{{.Label "k"}}', [Ctx("abc", {"k": "v"})], HEADERS)
    assert out == "CONTAINER ID   LABEL\nabc            v\n"


def test_render_plain() -> None:
    rows = [{"ID": "a", "Names": "x"}, {"ID": "b", "Names": "y"}]
    assert render("{{.ID}}: {{.Names}}", rows) == "a: x\nb: y\n"
    assert render("{{.ID}}\\t{{.Names}}", rows) == "a\tx\nb\ty\n"


def test_go_str() -> None:
    assert go_str(1e21) == "1e+21"
    assert go_str(100.0) == "100"
    assert go_str(False) == "false"
    assert go_str({"b": 1, "a": [1, 2]}) == "map[a:[1 2] b:1]"
    assert go_str(Ctx("x", {})) == "{x map[]}"


def test_json_of_objects() -> None:
    ctx = Ctx("abc", {"k": "v"})
    assert Template.parse("{{json .}}").execute(ctx) == '{"ID":"abc","labels":{"k":"v"}}'
    assert Template.parse("{{json .}}").execute({"s": {"b", "a"}}) == '{"s":["a","b"]}'
    with pytest.raises(InvalidArgument, match="error calling json: json: unsupported type: object"):
        Template.parse("{{json .}}").execute(object())
