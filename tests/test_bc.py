"""The BC baseline: it fits demos, checkpoints load safely (tensors only), the same checkpoint
evaluates to the same numbers, and bad checkpoints are refused with a clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dexbench.cli import main
from dexbench.envs.registry import make_env
from dexbench.evaluation import evaluate
from dexbench.policies.bc.policy import BCPolicy, load_checkpoint
from dexbench.policies.bc.train import BCConfig, train_bc

ENV_ID = "DexMG/TrayLift-Panda-D0"
BC = "dexbench.policies:BCPolicy"


@pytest.fixture(scope="module")
def demos(panda_tray_demos):
    return panda_tray_demos


@pytest.fixture(scope="module")
def mlp_checkpoint(demos, tmp_path_factory):
    out = tmp_path_factory.mktemp("bc") / "mlp"
    report = train_bc(demos, out, BCConfig(steps=300, hidden=64, layers=2, batch_size=64, log_every=50),
                      progress=False)
    log = json.loads((out / "train_log.json").read_text())
    # It learns: the loss falls well below its starting value (normalised actions: ~0.8 at init).
    assert log["train_loss"][-1] < 0.5 * log["train_loss"][0]
    assert report.train_demos == 2 and report.val_demos == 0
    return out


def test_checkpoint_is_tensors_and_json(mlp_checkpoint):
    state = torch.load(mlp_checkpoint / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    config = json.loads((mlp_checkpoint / "config.json").read_text())
    assert config["env_id"] == ENV_ID and config["arch"] == "mlp" and config["steps_done"] == 300


def test_policy_acts_in_the_action_space(mlp_checkpoint):
    env = make_env("TrayLift", "Panda", "D0")
    try:
        policy = BCPolicy(env.observation_space, env.action_space, checkpoint=mlp_checkpoint)
        obs, _ = env.reset(seed=0)
        policy.reset(seed=0)
        for _ in range(12):  # past one chunk: the temporal ensemble is full
            action = policy.act(obs)
            assert action.shape == env.action_space.shape and np.all(np.isfinite(action))
            obs, *_ = env.step(action)
    finally:
        env.close()


def test_same_checkpoint_evaluates_to_the_same_numbers(mlp_checkpoint):
    kwargs = dict(episodes=2, policy_kwargs={"checkpoint": str(mlp_checkpoint)}, env_kwargs={"horizon": 40},
                  progress=False)
    a = evaluate(BC, ENV_ID, **kwargs)
    b = evaluate(BC, ENV_ID, workers=2, **kwargs)
    assert a["episodes"] == b["episodes"]
    assert a["policy"]["checkpoint_sha256"] == b["policy"]["checkpoint_sha256"]


def test_recurrent_variant_trains_and_acts(demos, tmp_path):
    out = tmp_path / "rnn"
    assert main(["train", "bc", "--data", str(demos), "--out", str(out), "--arch", "rnn", "--steps", "40",
                 "--hidden", "32", "--layers", "1", "--batch-size", "16", "-q"]) == 0
    result = evaluate(BC, ENV_ID, episodes=1, policy_kwargs={"checkpoint": str(out)}, env_kwargs={"horizon": 15},
                      progress=False)
    assert result["policy"]["name"] == "bc-rnn" and result["episodes"][0]["length"] == 15


def test_bad_checkpoints_are_refused(mlp_checkpoint, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="dexbench train bc"):
        load_checkpoint(tmp_path)
    # A checkpoint holding a pickled object (which could run code when loaded) is refused.
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "config.json").write_text((mlp_checkpoint / "config.json").read_text())
    torch.save({"payload": np.dtype("float64"), "obj": object.__new__(BCConfig)}, evil / "model.pt")
    with pytest.raises(ValueError, match="cannot load"):
        load_checkpoint(evil)
    # A policy trained for another embodiment names the mismatch.
    env = make_env("TrayLift", "PandaDex", "D0")
    try:
        with pytest.raises(ValueError, match="actions"):
            BCPolicy(env.observation_space, env.action_space, checkpoint=mlp_checkpoint)
    finally:
        env.close()
    assert main(["eval", "--policy", BC, "--checkpoint", str(tmp_path / "nope"), "--env", ENV_ID]) == 2
    assert "not a BC checkpoint" in capsys.readouterr().err


def test_absolute_rotations_are_learned_without_the_axis_angle_wrap():
    from scipy.spatial.transform import Rotation

    from dexbench.policies.bc.actions import decode, encode, rotation_slots

    env = make_env("Pouring", "GR1", "D0")  # absolute actions by default
    try:
        slots = rotation_slots(env.action_layout, env.action_mode)
        assert slots == [(3, 6), (9, 12)]
        assert rotation_slots(env.action_layout, "delta") == []
    finally:
        env.close()
    # Two hands pointing down, 1 degree apart across the 180-degree wrap: their axis-angle
    # vectors point opposite ways, their learned encodings are close, and decoding gives back
    # the rotation.
    a = np.zeros((2, 24), dtype=np.float32)
    a[0, 3:6] = [np.pi - 0.01, 0, 0]
    a[1, 3:6] = (Rotation.from_rotvec([np.pi - 0.01, 0, 0]) * Rotation.from_rotvec([0.0175, 0, 0])).as_rotvec()
    assert np.linalg.norm(a[0, 3:6] - a[1, 3:6]) > 6  # the wrap
    e = encode(a, slots)
    assert e.shape == (2, 30) and np.linalg.norm(e[0] - e[1]) < 0.05
    back = decode(e[1].astype(np.float64), slots)
    angle = (Rotation.from_rotvec(back[3:6]) * Rotation.from_rotvec(a[1, 3:6]).inv()).magnitude()
    assert angle < 1e-5 and np.allclose(back[12:], a[1, 12:])
