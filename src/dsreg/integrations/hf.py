"""A version as a Hugging Face `datasets.Dataset`, or with `streaming=True` an
`IterableDataset` that reads batch by batch. The commit is in `info.description`."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dsreg.integrations import need

if TYPE_CHECKING:
    from dsreg.read.dataset import Dataset


def to_hf(ds: Dataset, streaming: bool = False) -> Any:
    datasets = need("datasets", "hf")
    info = datasets.DatasetInfo(description=f"dsreg {ds.dataset}@{ds.commit} split {ds.split}",
                                dataset_name=ds.dataset.replace("/", "_"))
    if not streaming:
        return datasets.Dataset(datasets.table.InMemoryTable(ds.to_table()), info=info, split=ds.split)
    features = datasets.Features.from_arrow_schema(ds.schema)

    def batches(view: Dataset) -> Iterator[dict]:
        for batch in view.to_batches():
            yield from batch.to_pylist()
    it = datasets.IterableDataset.from_generator(batches, features=features, gen_kwargs={"view": ds})
    it.info.description, it.info.dataset_name = info.description, info.dataset_name
    return it
