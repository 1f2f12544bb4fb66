"""Datasets: record episodes, write and read HDF5 in the robomimic-compatible layout."""

from dexbench.datasets.hdf5 import (
    DatasetError,
    DatasetReader,
    DatasetWriter,
    env_kwargs_of,
    load_dataset,
    write_dataset,
)
from dexbench.datasets.recorder import (
    CollectionReport,
    Episode,
    collect_demos,
    record_episode,
    record_video,
)

__all__ = [
    "CollectionReport",
    "DatasetError",
    "DatasetReader",
    "DatasetWriter",
    "Episode",
    "collect_demos",
    "env_kwargs_of",
    "load_dataset",
    "record_episode",
    "record_video",
    "write_dataset",
]
