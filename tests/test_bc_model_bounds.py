"""A BC checkpoint's config cannot ask for more weights than a machine holds: every size has its
own bound, but together they could describe terabytes; the network's size is counted from the
config (on torch's meta device) and refused in one line before anything is allocated."""

from __future__ import annotations

import json
import resource
import time

import pytest

torch = pytest.importorskip("torch")

from dexbench.policies.bc.model import MAX_PARAMETERS, build_model, parameter_count  # noqa: E402
from dexbench.policies.bc.policy import load_checkpoint  # noqa: E402

# Each within the bounds `load_checkpoint` checks one by one (sizes <= 16384, dims <= 10^6).
HUGE_MLP = {
    "arch": "mlp",
    "obs_dim": 1_000_000,
    "act_dim": 1_000_000,
    "env_act_dim": 1_000_000,
    "model": {"chunk": 1000, "hidden": 16_384, "layers": 64},
}
HUGE_RNN = {
    "arch": "rnn",
    "obs_dim": 1_000_000,
    "act_dim": 24,
    "env_act_dim": 24,
    "model": {"hidden": 16_384, "layers": 64},
}


def checkpoint(tmp_path, net: dict) -> str:
    config = {
        "format": "dexbench-bc-checkpoint",
        "format_version": 1,
        **net,
        "obs_keys": ["robot0_joint_pos"],
        "train": {"seq_len": 10},
        "rotation_slots": [],
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.pt").write_bytes(b"")  # never read: the config is refused first
    return str(tmp_path)


@pytest.mark.parametrize("net", [HUGE_MLP, HUGE_RNN], ids=["mlp", "rnn"])
def test_a_config_asking_for_terabytes_is_refused_before_allocating(tmp_path, net):
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    start = time.monotonic()
    with pytest.raises(ValueError) as err:
        load_checkpoint(checkpoint(tmp_path, net))
    message = str(err.value)
    assert "\n" not in message
    assert "config.json describes no BC network" in message and "weights" in message
    assert f"over the limit of {MAX_PARAMETERS:,}" in message and "--hidden" in message
    assert time.monotonic() - start < 20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 2_000_000  # < 2 GiB more


def test_the_count_is_the_built_networks():
    config = {"arch": "mlp", "obs_dim": 60, "act_dim": 30, "model": {"chunk": 10, "hidden": 256, "layers": 3}}
    model = build_model(config)
    built = sum(t.numel() for t in (*model.parameters(), *model.buffers()))
    assert parameter_count(lambda: type(model)(60, 30, chunk=10, hidden=256, layers=3)) == built


def test_the_largest_network_under_the_limit_is_still_built():
    # 2 layers 8192 wide: about 70 M weights, under the limit
    model = build_model(
        {"arch": "mlp", "obs_dim": 100, "act_dim": 24, "model": {"chunk": 10, "hidden": 8192, "layers": 2}}
    )
    assert MAX_PARAMETERS / 10 < sum(p.numel() for p in model.parameters()) < MAX_PARAMETERS


def test_training_out_of_memory_is_one_line_naming_the_batch_size(tmp_path, capsys, monkeypatch):
    from dexbench.cli import main
    from dexbench.policies.bc import train

    def out_of_memory(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 2018400000 bytes.\nmore lines"
        )

    monkeypatch.setattr(train, "train_bc", out_of_memory)
    assert (
        main(
            ["train", "bc", "--data", str(tmp_path / "any.hdf5"), "--out", str(tmp_path / "bc"), "--batch-size", "4096"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "ran out of memory" in err and "--batch-size (now 4096)" in err
