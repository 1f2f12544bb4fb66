"""robomimic's own loader reads what `dexbench demo` and `dexbench generate` write, with its
default arguments (robomimic 0.3's SequenceDataset, installed by .ci/run)."""

from __future__ import annotations

import h5py
import pytest

from dexbench.generators.runner import run_generation

robomimic_dataset = pytest.importorskip("robomimic.utils.dataset", reason="robomimic is installed by .ci/run")
ObsUtils = pytest.importorskip("robomimic.utils.obs_utils")


def _sequence_dataset(path, **kwargs):
    with h5py.File(path, "r") as f:
        obs_keys = sorted(f["data/demo_0/obs"])
    ObsUtils.initialize_obs_modality_mapping_from_dict({"low_dim": obs_keys})
    return robomimic_dataset.SequenceDataset(
        hdf5_path=str(path), obs_keys=obs_keys, dataset_keys=("actions", "rewards", "dones"), **kwargs
    )


def test_robomimic_reads_scripted_and_generated_datasets_with_its_defaults(panda_tray_demos, tmp_path):
    generated = tmp_path / "generated.hdf5"
    run_generation("mimicgen", "DexMG/TrayLift-Panda-D1", panda_tray_demos, 2, generated, progress=False)
    for path in (panda_tray_demos, generated):
        dataset = _sequence_dataset(path)
        with h5py.File(path, "r") as f:
            assert list(f["data"]) == ["demo_0", "demo_1"]  # only demos under /data
            total = sum(int(f[f"data/{k}"].attrs["num_samples"]) for k in f["data"])
        assert dataset.n_demos == 2 and len(dataset) == total
        item = dataset[0]
        assert item["actions"].shape[-1] == 14 and "right_eef_pos" in item["obs"]
        # robomimic's train/valid filter keys exist and split the demos
        train = _sequence_dataset(path, filter_by_attribute="train")
        valid = _sequence_dataset(path, filter_by_attribute="valid")
        assert train.n_demos == 1 and valid.n_demos == 1  # a small file holds one demo out, too
