"""Datasets: pure input/output of HDF5 in the robomimic-compatible layout (and replay checks)."""

from dexbench.datasets.hdf5 import DatasetError
from dexbench.datasets.reader import DatasetReader, load_dataset
from dexbench.datasets.writer import DatasetWriter, env_kwargs_of, write_dataset

__all__ = [
    "DatasetError",
    "DatasetReader",
    "DatasetWriter",
    "env_kwargs_of",
    "load_dataset",
    "write_dataset",
]
