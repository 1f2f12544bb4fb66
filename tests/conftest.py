import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest


@pytest.fixture(scope="session")
def panda_tray_demos(tmp_path_factory):
    """Two scripted TrayLift-Panda-D0 demos (a small real dataset for BC and compare tests)."""
    from dexbench.generators.runner import run_generation

    path = tmp_path_factory.mktemp("demos") / "traylift_panda.hdf5"
    assert run_generation("scripted", "DexMG/TrayLift-Panda-D0", None, 2, path, progress=False).successes == 2
    return path
