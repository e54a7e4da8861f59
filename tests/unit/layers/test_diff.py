"""Upper dir -> layer tar: deterministic, round-trips through unpack (no whiteouts here;
overlay whiteouts need root and are covered in tests/integration/test_store_layers.py)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from sbx.layers import WhiteoutMode
from sbx.layers.diff import diff
from sbx.layers.unpack import unpack


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/conf").write_text("a=1\n")
    (root / "bin").mkdir()
    (root / "bin/tool").write_bytes(b"\x7fELF")
    os.chmod(root / "bin/tool", 0o755)
    os.link(root / "bin/tool", root / "bin/tool2")
    os.symlink("/bin/tool", root / "bin/alias")
    os.mkfifo(root / "fifo")
    for p in [root, *root.rglob("*")]:
        os.utime(p, (1_700_000_000, 1_700_000_000), follow_symlinks=False)


def test_diff_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    _tree(upper)
    one, two = io.BytesIO(), io.BytesIO()
    diff(upper, one)
    diff(upper, two)
    assert one.getvalue() == two.getvalue()
    names = [m.name for m in tarfile.open(fileobj=io.BytesIO(one.getvalue()))]
    assert names == ["bin", "bin/alias", "bin/tool", "bin/tool2", "etc", "etc/conf", "fifo"]
    members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(one.getvalue()))}
    assert members["bin/tool2"].islnk() and members["bin/tool2"].linkname == "bin/tool"
    assert members["bin/alias"].linkname == "/bin/tool"
    assert members["etc/conf"].uname == "" and members["etc/conf"].mtime == 1_700_000_000

    out = tmp_path / "out"
    unpack(io.BytesIO(one.getvalue()), out, whiteouts=WhiteoutMode.KEEP)
    assert (out / "etc/conf").read_text() == "a=1\n"
    assert (out / "bin/tool").stat().st_ino == (out / "bin/tool2").stat().st_ino
    assert os.readlink(out / "bin/alias") == "/bin/tool"


def test_diff_to_write_only_sink(tmp_path: Path) -> None:
    class Sink:
        def __init__(self) -> None:
            self.data = bytearray()

        def write(self, b: bytes) -> int:
            self.data += b
            return len(b)

    upper = tmp_path / "u"
    upper.mkdir()
    (upper / "f").write_bytes(b"x" * 3_000_000)
    sink = Sink()
    diff(upper, sink)  # type: ignore[arg-type]
    member = tarfile.open(fileobj=io.BytesIO(bytes(sink.data))).getmember("f")
    assert member.size == 3_000_000
