"""core/files.py: whole files or none, and the cache folder's precedence."""

from pathlib import Path

import pytest

from gtforge.core.files import atomic_open, atomic_path, cache_dir


def test_a_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "a.json"
    with atomic_open(target) as f:
        f.write("{}")
        assert not target.exists() and len(list(tmp_path.glob("*.tmp"))) == 1
    assert target.read_text() == "{}" and not list(tmp_path.glob("*.tmp"))


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target, "wb") as f:
            f.write(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and not list(tmp_path.glob("*.tmp"))


def test_two_writers_of_one_target_get_their_own_temporary_files(tmp_path):
    target = tmp_path / "x.obj"
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b and a.parent == b.parent == tmp_path and a.name.endswith(".tmp")
        a.write_text("a")
        b.write_text("b")
    assert target.read_text() == "a"  # the outer block renames last


def test_atomic_open_refuses_append_and_read_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "a", "a"):
            pass


@pytest.mark.parametrize("env, expected", [
    ({"GTFORGE_CACHE": "/c/g", "XDG_CACHE_HOME": "/c/x"}, "/c/g"),
    ({"GTFORGE_CACHE": "", "XDG_CACHE_HOME": "/c/x"}, "/c/x/gtforge"),  # empty means unset
    ({"XDG_CACHE_HOME": ""}, "~/.cache/gtforge"),
    ({}, "~/.cache/gtforge"),
])
def test_cache_dir_precedence(monkeypatch, env, expected):
    for k in ("GTFORGE_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert cache_dir() == Path(expected).expanduser()
