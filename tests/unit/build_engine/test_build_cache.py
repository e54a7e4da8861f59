"""Build cache keys (a hash chain) and the on-disk entries shared by every process."""

from __future__ import annotations

from pathlib import Path

from sbx.build.cache import BuildCache, build_key, step_key
from sbx.layout import Layout


def test_step_key_changes_with_each_input_and_only_with_them() -> None:
    base = step_key("sha256:aa", '{"instruction": "RUN"}', {"A": "1"}, "sha256:src")
    assert base == step_key("sha256:aa", '{"instruction": "RUN"}', {"A": "1"}, "sha256:src")
    assert base != step_key("sha256:bb", '{"instruction": "RUN"}', {"A": "1"}, "sha256:src")
    assert base != step_key("sha256:aa", '{"instruction": "CMD"}', {"A": "1"}, "sha256:src")
    assert base != step_key("sha256:aa", '{"instruction": "RUN"}', {"A": "2"}, "sha256:src")
    assert base != step_key("sha256:aa", '{"instruction": "RUN"}', {"A": "1"}, "sha256:other")
    assert step_key("p", "i", {"A": "1", "B": "2"}) == step_key("p", "i", {"B": "2", "A": "1"})
    assert step_key("scratch", "i") != step_key("scratch", "i", {"A": ""})


def test_build_key_is_stable_across_dict_order() -> None:
    assert build_key({"a": 1, "b": [1, 2]}) == build_key({"b": [1, 2], "a": 1})
    assert build_key({"a": 1}) != build_key({"a": 2})


def test_entries_round_trip_and_prune_clears_steps_and_records(tmp_path: Path) -> None:
    cache = BuildCache(Layout(tmp_path, tmp_path / "run"))
    assert cache.get("k" * 64) is None
    cache.put("k" * 64, "sha256:" + "1" * 64, 5.0)
    entry = cache.get("k" * 64)
    assert entry is not None and entry.image == "sha256:" + "1" * 64 and entry.created == 5.0
    cache.put_build("b" * 64, {"image": "sha256:x", "lines": ["Step 1/1 : FROM bb"]})
    assert cache.get_build("b" * 64) == {"image": "sha256:x", "lines": ["Step 1/1 : FROM bb"]}
    # no temp files are left next to the entries (writes are rename-atomic)
    assert [p.name for p in (tmp_path / "build-cache" / "steps").iterdir()] == ["k" * 64 + ".json"]
    result = cache.prune()
    assert result.entries == 2 and result.reclaimed > 0
    assert cache.get("k" * 64) is None and cache.get_build("b" * 64) is None


def test_a_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "run")
    layout.build_cache_steps.mkdir(parents=True)
    (layout.build_cache_steps / ("c" * 64 + ".json")).write_text("{not json")
    assert BuildCache(layout).get("c" * 64) is None
