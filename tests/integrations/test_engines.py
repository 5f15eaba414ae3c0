"""The Ray and Dask adapters as optional extras: importing dsreg (or the adapters) never
imports the engines, a missing one is one line naming its extra, and misuse is refused
before any work is sent to a cluster."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from dsreg.errors import UsageError
from dsreg.integrations import dask as dsreg_dask
from dsreg.integrations import ray as dsreg_ray


def test_importing_dsreg_imports_no_engine():
    code = ("import sys, dsreg, dsreg.integrations.dask, dsreg.integrations.ray, dsreg.versions.distributed; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module, extra, call", [
    ("dask.dataframe", "dask", lambda: dsreg_dask.read("x", registry=None)),
    ("dask.dataframe", "dask", lambda: dsreg_dask.commit(None, "x", registry=None)),
    ("ray.data", "ray", lambda: dsreg_ray.read("x", registry=None)),
    ("ray.data", "ray", lambda: dsreg_ray.commit(None, "x", registry=None)),
])
def test_a_missing_engine_names_its_extra(monkeypatch, module, extra, call):
    monkeypatch.setitem(sys.modules, module, None)      # (import then fails, as when not installed)
    with pytest.raises(UsageError) as e:
        call()
    assert str(e.value) == f"{module} is not installed; pip install 'dsreg[{extra}]'"


def test_misuse_is_refused_before_any_work(registry):
    pytest.importorskip("dask.dataframe")
    import dask.dataframe as dd
    ddf = dd.from_pandas(pd.DataFrame({"x": [1, 2]}), npartitions=1)
    with pytest.raises(UsageError, match="registry= takes an open dsreg.Registry"):
        dsreg_dask.commit(ddf, "x", registry=str(registry.root))
    with pytest.raises(UsageError, match="give registry= or remote=, not both"):
        dsreg_dask.commit(ddf, "x", registry=registry, remote="s3://bucket/prefix")
    with pytest.raises(UsageError, match="registry= takes an open dsreg.Registry"):
        dsreg_dask.read("x")
    assert registry.datasets() == []


@pytest.mark.slow       # a Ray start in a process of its own
def test_docs_examples_run(tmp_path):
    """docs/engines.md's examples, in order, in an empty folder, in a fresh interpreter
    (its Ray example starts and stops Ray itself)."""
    pytest.importorskip("dask.dataframe")
    pytest.importorskip("ray")
    import re
    from pathlib import Path
    doc = Path(__file__).resolve().parents[2] / "docs" / "engines.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert len(blocks) == 2
    script = tmp_path / "examples.py"
    script.write_text("\n".join(blocks))
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
