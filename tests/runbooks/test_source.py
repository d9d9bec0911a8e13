"""Source stage: YAML 1.2 scalars, positions, and the traps of PyYAML we close."""

from __future__ import annotations

import pytest

from runbooks.diagnostics import RunbookError
from runbooks.source import parse_yaml


def test_on_yes_no_stay_strings_and_true_false_are_booleans():
    doc = parse_yaml("on: [yes, no, on, off]\nflag: true\nother: False\nn: ~\n", "t.yaml")
    assert doc.data == {"on": ["yes", "no", "on", "off"], "flag": True, "other": False, "n": None}


def test_numbers_follow_yaml_1_2_and_quoted_text_stays_text():
    doc = parse_yaml('a: 3.10\nb: "3.10"\nc: 0x1F\nd: 007\ne: 1e3\nf: 2021-12-23\n', "t.yaml")
    assert doc.data == {"a": 3.1, "b": "3.10", "c": 31, "d": 7, "e": 1000.0, "f": "2021-12-23"}


def test_positions_of_keys_and_values_are_one_based():
    doc = parse_yaml('id: rb\nsteps:\n  - id: a\n    name: "x ${{ y }}"\n', "t.yaml")
    assert (doc.keys[("steps", 0, "name")].line, doc.keys[("steps", 0, "name")].col) == (4, 5)
    value = doc.values[("steps", 0, "name")]
    assert (value.line, value.col, value.inner) == (4, 11, 1)


def test_every_duplicate_key_is_reported_in_one_pass():
    with pytest.raises(RunbookError) as exc:
        parse_yaml("a: 1\nb: 2\na: 3\nb: 4\n", "t.yaml")
    assert [(d.code, d.line) for d in exc.value.diagnostics] == [("RB003", 3), ("RB003", 4)]


def test_python_tags_are_refused():
    with pytest.raises(RunbookError) as exc:
        parse_yaml("a: !!python/object/apply:os.system [ls]\n", "t.yaml")
    assert exc.value.diagnostics[0].code == "RB002"
    assert "not supported" in exc.value.diagnostics[0].message


def test_anchors_and_aliases_of_modest_size_work():
    doc = parse_yaml("base: &b {kind: manual}\nuse: *b\n", "t.yaml")
    assert doc.data["use"] == {"kind": "manual"}


def test_the_c_parser_is_used_where_pyyaml_has_libyaml():
    import yaml

    from runbooks import source

    assert yaml.__with_libyaml__, "PyYAML without libyaml: parsing is ten times slower"
    assert source._LOADER is yaml.CSafeLoader
