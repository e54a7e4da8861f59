"""-v and --tmpfs parsing with moby's Linux rules."""

from __future__ import annotations

import pytest
from sbx.errors import InvalidArgument
from sbx.runtime.mountspec import BindMount, TmpfsMount, VolumeMount, parse_tmpfs, parse_volume


@pytest.mark.parametrize("raw, mount", [
    ("/host:/ctr", BindMount("/host", "/ctr", False, "rprivate")),
    ("/host:/ctr:ro", BindMount("/host", "/ctr", True, "rprivate")),
    ("/host:/ctr:rw", BindMount("/host", "/ctr", False, "rprivate")),
    ("/host:/ctr:ro,rshared", BindMount("/host", "/ctr", True, "rshared")),
    ("/host:/ctr:z", BindMount("/host", "/ctr", False, "rprivate")),
    ("/host:/ctr:Z,ro,slave", BindMount("/host", "/ctr", True, "slave")),
    ("/host:/ctr:cached", BindMount("/host", "/ctr", False, "rprivate")),
    ("/host:/ctr:", BindMount("/host", "/ctr", False, "rprivate")),
    ("/host:/ctr/./sub/", BindMount("/host", "/ctr/sub", False, "rprivate")),
    ("/data", VolumeMount(None, "/data", False)),
    ("data:/data", VolumeMount("data", "/data", False)),
    ("my.vol-1:/data:ro", VolumeMount("my.vol-1", "/data", True)),
    ("data:/data:nocopy", VolumeMount("data", "/data", False, True)),
])
def test_parse_volume(raw: str, mount: BindMount | VolumeMount) -> None:
    assert parse_volume(raw) == mount


@pytest.mark.parametrize("raw, message", [
    ("", "invalid volume specification: ''"),
    (":/ctr", "invalid volume specification: ':/ctr'"),
    ("/ctr:ro", "invalid volume specification: '/ctr:ro'"),
    ("/a:/b:ro:x", "invalid volume specification: '/a:/b:ro:x'"),
    ("/a:/b:c:d:e", "invalid volume specification: '/a:/b:c:d:e'"),
    ("/a:/b:rx", "invalid mode: rx"),
    ("/a:/b:ro,rw", "invalid mode: ro,rw"),
    ("/a:/b:shared,slave", "invalid mode: shared,slave"),
    ("/a:rel", "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": "
               "invalid mount path: 'rel' mount path must be absolute"),
    ("rel", "invalid volume specification: 'rel': invalid mount config for type \"volume\": "
            "invalid mount path: 'rel' mount path must be absolute"),
    ("/a:/", "invalid volume specification: '/a:/': invalid specification: destination can't be '/'"),
    ("/a:/b/../..", "invalid volume specification: '/a:/b/../..': mount path must not contain '..'"),
    ("/a:/b:nocopy", "invalid volume specification: '/a:/b:nocopy': invalid mount config for type "
                     "\"bind\": nocopy is only valid for volumes"),
    ("v:/b:rshared", "invalid volume specification: 'v:/b:rshared': invalid mount config for type "
                     "\"volume\": propagation is only valid for bind mounts"),
    ("./rel:/b", "invalid volume specification: './rel:/b': \"./rel\" includes invalid characters "
                 "for a local volume name"),
    # like Docker, a volume name has at least two characters
    ("v:/b", "invalid volume specification: 'v:/b': \"v\" includes invalid characters"),
])
def test_parse_volume_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_volume(raw)
    assert info.value.message.startswith(message)
    assert info.value.hint


@pytest.mark.parametrize("raw, mount", [
    ("/run", TmpfsMount("/run")),
    ("/run:rw,size=64m,mode=1777", TmpfsMount("/run", 64 << 20, 0o1777)),
    ("/tmp:ro,noexec,nosuid", TmpfsMount("/tmp", None, None, True, ("noexec", "nosuid"))),
    ("/x/:size=1g,uid=1000,gid=1000,nodev", TmpfsMount("/x", 1 << 30, None, False,
                                                       ("uid=1000", "gid=1000", "nodev"))),
    ("/y:mode=755", TmpfsMount("/y", None, 0o755)),
])
def test_parse_tmpfs(raw: str, mount: TmpfsMount) -> None:
    assert parse_tmpfs(raw) == mount


def test_tmpfs_mount_data_and_flags() -> None:
    m = parse_tmpfs("/run:size=64m,mode=1777,uid=1,noexec,ro")
    assert m.mount_data() == "size=67108864,mode=1777,uid=1"
    assert m.flags() == ("noexec", "ro")
    assert parse_tmpfs("/run:mode=700").mount_data() == "mode=700"
    assert parse_tmpfs("/run").mount_data() == ""


@pytest.mark.parametrize("raw, message", [
    ("run", "invalid mount config for type \"tmpfs\": invalid mount path: 'run' mount path must be absolute"),
    ("/", "invalid tmpfs mount path: '/'"),
    ("/a/../..", "invalid tmpfs mount path: '/a/../..'"),
    ("/run:size=abc", "invalid tmpfs size for /run: invalid size: 'abc'"),
    ("/run:size=50%", "tmpfs size '50%' for /run: percentages are not supported"),
    ("/run:mode=999", "invalid tmpfs mode '999' for /run: expected octal such as 1777"),
    ("/run:bogus", "invalid tmpfs option 'bogus' for /run"),
    ("/run:colour=red", "invalid tmpfs option 'colour=red' for /run"),
])
def test_parse_tmpfs_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_tmpfs(raw)
    assert info.value.message == message
