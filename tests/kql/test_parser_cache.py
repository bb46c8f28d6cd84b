"""The parsers' tables come from the user's private cache: written once, read after, and
never from a directory others could write (lark's cache is a pickle)."""

from __future__ import annotations

import pathlib

import pytest

from audithound.eql import parser as eql_parser
from audithound.kql import lalr
from audithound.kql import parser as kql_parser

GRAMMARS = {
    "kql": (pathlib.Path(kql_parser.__file__).parent / "grammar.lark", kql_parser._Builder),
    "eql": (pathlib.Path(eql_parser.__file__).parent / "grammar.lark", eql_parser._Builder),
}


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_tables_are_cached_in_a_private_directory_and_read_back(
    name: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    grammar, builder = GRAMMARS[name]
    first = lalr.cached_parser(grammar, name, transformer=builder())
    directory = tmp_path / "audithound" / "parsers"
    (cached,) = directory.iterdir()
    assert cached.name.startswith(f"{name}-parser-") and directory.stat().st_mode & 0o077 == 0
    written = cached.stat().st_mtime_ns
    second = lalr.cached_parser(grammar, name, transformer=builder())
    assert cached.stat().st_mtime_ns == written  # read, not written again
    query = "verb:get" if name == "kql" else 'any where verb == "get"'
    assert repr(lalr.parse(first, query)) == repr(lalr.parse(second, query))


def test_a_directory_others_can_write_is_not_used(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    directory = tmp_path / "audithound" / "parsers"
    directory.mkdir(parents=True)
    directory.chmod(0o777)
    grammar, builder = GRAMMARS["kql"]
    lalr.cached_parser(grammar, "kql", transformer=builder())
    assert list(directory.iterdir()) == []


def test_a_cache_file_cut_short_is_built_again(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    grammar, builder = GRAMMARS["kql"]
    lalr.cached_parser(grammar, "kql", transformer=builder())
    (cached,) = (tmp_path / "audithound" / "parsers").iterdir()
    whole = cached.read_bytes()
    cached.write_bytes(whole[: len(whole) // 2])  # as another start may still be writing it
    parser = lalr.cached_parser(grammar, "kql", transformer=builder())
    assert repr(lalr.parse(parser, "verb:get")) == repr(kql_parser.parse("verb:get"))
    written = cached.stat().st_mtime_ns  # written whole again (pickles may differ in order)
    lalr.cached_parser(grammar, "kql", transformer=builder())
    assert cached.stat().st_mtime_ns == written
