"""max-change counts rows as multisets whatever runs the versions are cut into: shard rows
both read cancel unread, the rest are compared by fingerprint."""
from __future__ import annotations

import pyarrow as pa
import pytest

from dsreg import checks
from dsreg.registry import Registry

N = 1000
BASE = pa.table({"id": list(range(N)), "label": ["a", "b"] * (N // 2)})


@pytest.fixture
def reg(tmp_path):
    r = Registry.init(tmp_path / "r")
    r.commit("d", BASE, message="base")
    yield r
    r.close()


def changed(reg) -> tuple[int, int]:
    (result,) = checks.run_checks(reg, "d", rules=["max-change 0"]).results
    return result.violations, result.ok


def test_scattered_edits_count_once_each(reg):
    labels = BASE["label"].to_pylist()
    for i in range(3, N, 97):                  # 11 rows, scattered: the runs are cut around each
        labels[i] = "edited"
    reg.commit("d", BASE.set_column(1, "label", pa.array(labels)), message="edit")
    assert changed(reg) == (11, False)


def test_a_reused_row_read_twice_is_one_added(reg):
    reg.commit("d", pa.concat_tables([BASE, BASE.slice(5, 1)]), message="one row again")
    assert changed(reg) == (1, False)
    reg.commit("d", pa.concat_tables([BASE.slice(500), BASE.slice(0, 500)]), message="reordered")
    assert changed(reg) == (1, False)          # the repeated row removed; the order is no change
    reg.commit("d", pa.concat_tables([BASE.slice(500), BASE.slice(0, 500)]).slice(0, 999), message="drop")
    assert changed(reg) == (1, False)
