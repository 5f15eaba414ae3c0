"""The command line tunes its own process (cli/util.py tune_process): Arrow's memory pool
is jemalloc unless the user chose one, and a process that already imported pyarrow is
left alone."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pyarrow as pa
import pytest

PROBE = ("import sys; from dsreg.cli.util import tune_process; tune_process(); "
         "import pyarrow as pa; print(pa.default_memory_pool().backend_name)")


def pool_of(env_pool: str | None, code: str = PROBE) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stderr == ""         # no warning about the pool either
    return out.stdout.strip()


def has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
        return True
    except NotImplementedError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "AMD64")
                    or not has_jemalloc(), reason="dsreg asks for jemalloc on x86-64 Linux only")
def test_the_cli_process_allocates_with_jemalloc():
    assert pool_of(None) == "jemalloc"


def test_a_pool_the_user_chose_is_kept():
    assert pool_of("system") == "system"


def test_a_process_that_already_imported_pyarrow_is_left_alone():
    untouched = pool_of(None, "import pyarrow as pa; print(pa.default_memory_pool().backend_name)")
    assert pool_of(None, "import pyarrow; " + PROBE) == untouched
    code = "import os, pyarrow; from dsreg.cli.util import tune_process; tune_process(); " \
           "print(os.environ.get('ARROW_DEFAULT_MEMORY_POOL', '-'))"
    assert pool_of(None, code) == "-"
