"""Ray: a commit straight to an S3 remote (moto over loopback), with no registry, against
a single-process commit pushed to another bucket; a killed worker moves nothing."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

import dsreg
from dsreg.maintenance.remote import fsck_remote
from dsreg.remote import transfer
from dsreg.remote.backends import open_remote
from helpers.engines import worker_killing_engine
from helpers.s3 import new_bucket
from helpers.tables import make_table

ray = pytest.importorskip("ray")
from dsreg.integrations import ray as dsreg_ray  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray(s3_endpoint, tmp_path_factory):
    # the workers get the moto credentials (set by s3_endpoint) and a cache of their own
    env = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    env["DSREG_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False, runtime_env={"env_vars": env})
    from ray.data import DataContext
    DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def test_commit_to_s3_is_a_commit_then_push(registry, s3_endpoint, tmp_path):
    table = make_table(3000, 1)
    bucket = f"s3://{new_bucket(s3_endpoint)}/team/data"
    ds = ray.data.from_arrow([table.slice(0, 1000), table.slice(1000, 0), table.slice(1000, 2000)])
    res = dsreg_ray.commit(ds, "r", remote=bucket, endpoint_url=s3_endpoint, message="from ray")
    assert res.splits["train"].rows == 3000
    assert open_remote(bucket, s3_endpoint).ref("r", "branch", "main").commit == res.id
    registry.commit("r", table)
    other = f"s3://{new_bucket(s3_endpoint)}/p"
    transfer.add_remote(registry, "origin", other, s3_endpoint)
    transfer.push(registry, "origin")
    mine, _ = dsreg.Registry.clone(bucket, tmp_path / "a", s3_endpoint)
    theirs, _ = dsreg.Registry.clone(other, tmp_path / "b", s3_endpoint)
    a, b = mine.load("r"), theirs.load("r")
    assert a.replace_schema_metadata(None).equals(b.replace_schema_metadata(None))
    assert mine.log("r")[0].message == "from ray"
    # again, with a few rows changed: only those are new
    edited = table.set_column(0, "id", pa.array(np.r_[-np.arange(1, 31), np.arange(30, 3000)]))
    again = dsreg_ray.commit(ray.data.from_arrow([edited.slice(0, 1500), edited.slice(1500)]), "r", remote=bucket,
                             endpoint_url=s3_endpoint)
    assert again.splits["train"].reused_rows >= 2800, again.splits
    assert fsck_remote(mine, "origin").ok
    mine.close()
    theirs.close()


def test_a_killed_worker_leaves_the_remote_branch(s3_endpoint, tmp_path):
    bucket = f"s3://{new_bucket(s3_endpoint)}/team/data"
    dsreg_ray.commit(ray.data.from_arrow([pa.table({"x": np.arange(50)})]), "c", remote=bucket,
                     endpoint_url=s3_endpoint)
    remote = open_remote(bucket, s3_endpoint)
    head = remote.ref("c", "branch", "main").commit
    ds = ray.data.from_arrow([pa.table({"x": np.arange(i * 100, i * 100 + 100)}) for i in range(3)])
    engine = worker_killing_engine(dsreg_ray, ds, tmp_path / "armed")
    from dsreg.integrations.engines import commit_engine
    with pytest.raises(ray.exceptions.RayError):
        commit_engine(engine, "c", registry=None, remote=bucket, endpoint_url=s3_endpoint, origin="<test>",
                      append=True)
    assert remote.ref("c", "branch", "main").commit == head
    reg, _ = dsreg.Registry.clone(bucket, tmp_path / "c", s3_endpoint)
    assert fsck_remote(reg, "origin").ok
    assert reg.load("c")["x"].to_pylist() == list(range(50))
    reg.close()
