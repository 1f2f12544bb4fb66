"""Datasets: record episodes, write and read HDF5 in the robomimic-compatible layout."""

from dexbench.datasets.hdf5 import DatasetError
from dexbench.datasets.reader import DatasetReader, load_dataset
from dexbench.datasets.writer import DatasetWriter, env_kwargs_of, write_dataset
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
