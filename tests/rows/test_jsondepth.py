"""The scan that keeps JSON Lines nested beyond any column away from Arrow's reader (which
overflows the C stack on them): exact where it matters, never fooled by strings."""
from __future__ import annotations

import json

import pytest

from dsreg.errors import BadInput
from dsreg.rows.jsondepth import check_json_depth, max_depth


@pytest.mark.parametrize("text, depth", [
    ("{}", 1), ("[[[]]]", 3), ('{"a": "[[[[{{{{"}', 1), ('{"a": "\\"[[["}', 1), ('{"a": "x\\\\", "b": [[1]]}', 3),
    ('{"a\\\\\\"[": [1]}', 2), ('"]]]]"', 0), ("1", 0),
])
def test_max_depth_skips_brackets_in_strings(text, depth):
    assert max_depth(text.encode()) == depth


def test_lines_deep_in_strings_only_or_wide_but_shallow_pass(tmp_path):
    f = tmp_path / "ok.jsonl"
    rows = [{"text": "[" * 5000 + "{" * 5000, "id": 1}, {"items": [{"x": i} for i in range(5000)]},
            {"escaped": '\\"' + "[" * 3000}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    check_json_depth(f, limit=100)


def test_the_deep_line_is_named_across_blocks(tmp_path, monkeypatch):
    import dsreg.rows.jsondepth as jd
    monkeypatch.setattr(jd, "_BLOCK", 64)           # lines straddle many blocks
    f = tmp_path / "deep.jsonl"
    f.write_bytes(b'{"id": 1}\n' * 40 + b'{"a": ' + b"[" * 150 + b"]" * 150 + b"}\n" + b'{"id": 2}\n')
    with pytest.raises(BadInput, match=r"line 41 nests values more than 100 levels deep"):
        check_json_depth(f, limit=100)
    f.write_bytes(b'{"a": ' + b"[" * 99 + b"]" * 99 + b"}")      # 100 levels, no newline at the end
    check_json_depth(f, limit=100)
