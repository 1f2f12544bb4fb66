"""The Diffusion Policy: it fits demos (sampled actions near the demonstrated ones), DDIM sampling is
seeded, malformed checkpoints are refused, --device cuda without a GPU is a clear error, and an
evaluation does not depend on the number of workers."""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil

import pytest
import torch

from dexbench.cli import main
from dexbench.envs.registry import build_env
from dexbench.evaluation import evaluate
from dexbench.policies.bc.actions import encode
from dexbench.policies.bc.data import load_demo_arrays
from dexbench.policies.device import resolve_device
from dexbench.policies.diffusion.model import NoiseSchedule, TemporalUNet
from dexbench.policies.diffusion.policy import DiffusionPolicy, load_checkpoint
from dexbench.policies.diffusion.train import DiffusionConfig, Windows, train_diffusion

ENV_ID = "DexMG/TrayLift-Panda-D0"
DP = "dexbench.policies:DiffusionPolicy"
TINY = dict(
    channels=(32, 64), horizon=8, n_obs=2, n_action=4, batch_size=32, lr=1e-3, warmup=50, log_every=100, threads=1
)  # one thread: on a busy 2-core machine two spinning torch threads are 10x slower


@pytest.fixture(scope="module")
def checkpoint(panda_tray_demos, tmp_path_factory):
    out = tmp_path_factory.mktemp("diffusion") / "dp"
    train_diffusion(panda_tray_demos, out, DiffusionConfig(steps=800, **TINY), progress=False)
    return out


def _sample_error(model, config, demos, seed=0):
    """Mean |sampled - demonstrated| over the executed actions of every 5th step, in the training
    actions' [-1, 1] units (the checkpoint's action normaliser maps each dimension's range there)."""
    data = load_demo_arrays(demos)
    slots = [tuple(s) for s in config["rotation_slots"]]
    data = dataclasses.replace(data, actions=[encode(a, slots) for a in data.actions])
    stats = {
        "obs_mean": model.obs_norm.mean.numpy(),
        "obs_std": model.obs_norm.std.numpy(),
        "act_mean": model.act_norm.mean.numpy(),
        "act_std": model.act_norm.std.numpy(),
    }
    windows = Windows(data, list(range(len(data.actions))), DiffusionConfig(**TINY), stats)
    obs, act = windows.at(torch.arange(0, len(windows), 5))
    assert float(act.abs().max()) <= 1 + 1e-5  # min-max scaling: the demos span [-1, 1]
    pred = NoiseSchedule(100, config["diffusion"]["prediction"]).ddim_sample(
        model, obs, 10, torch.Generator().manual_seed(seed)
    )
    run = slice(model.n_obs - 1, model.n_obs - 1 + model.n_action)
    return float((pred[:, run] - act[:, run]).abs().mean()), float(act[:, run].abs().mean())


def test_sampled_actions_approach_the_demonstrations(checkpoint, panda_tray_demos):
    model, config, _ = load_checkpoint(checkpoint)
    torch.manual_seed(0)
    untrained = TemporalUNet(config["obs_dim"], config["act_dim"], **config["model"]).eval()
    untrained.load_state_dict(
        {k: v for k, v in model.state_dict().items() if "norm" in k or k == "action_bound"}, strict=False
    )
    (trained_error, scale), (untrained_error, _) = (
        _sample_error(m, config, panda_tray_demos) for m in (model, untrained)
    )
    # Measured (seed 0): 0.044 trained, ~0.6 untrained, the demos' mean |action| 0.45 ((16, 32): 0.12).
    assert trained_error < 0.25 * scale and trained_error < 0.2 * untrained_error, (
        trained_error,
        untrained_error,
        scale,
    )
    state = torch.load(checkpoint / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    saved = json.loads((checkpoint / "config.json").read_text())
    assert saved["format"] == "dexbench-diffusion-checkpoint" and saved["diffusion"]["prediction"] == "sample"


def test_ddim_sampling_is_seeded(checkpoint):
    model, _, _ = load_checkpoint(checkpoint)
    cond = torch.zeros(1, model.n_obs * model.obs_dim)
    schedule = NoiseSchedule(100)
    a, b, c = (schedule.ddim_sample(model, cond, 10, torch.Generator().manual_seed(s)) for s in (3, 3, 4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate_config", "not valid JSON"),
        ("wrong_shape", "not a state_dict"),
        ("pickle_payload", "not a state_dict"),
        ("huge_channels", "damaged"),
    ],
)
def test_a_malformed_checkpoint_is_refused(checkpoint, tmp_path, damage, message):
    bad = tmp_path / "bad"
    shutil.copytree(checkpoint, bad)
    if damage == "truncate_config":
        text = (bad / "config.json").read_text()
        (bad / "config.json").write_text(text[: len(text) // 2])
    elif damage == "wrong_shape":
        state = torch.load(bad / "model.pt", weights_only=True)
        key = next(k for k in state if k.endswith("weight") and state[k].ndim == 3)
        state[key] = torch.zeros(*state[key].shape[:-1], state[key].shape[-1] + 1)
        torch.save(state, bad / "model.pt")
    elif damage == "pickle_payload":
        (bad / "model.pt").write_bytes(pickle.dumps(shutil.rmtree))  # a payload naming a callable
    else:
        config = json.loads((bad / "config.json").read_text())
        config["model"]["channels"] = [4096, 4096, 4096, 4096, 4096, 4096]
        config["model"]["horizon"] = 32
        (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message) as err:
        load_checkpoint(bad)
    assert "train diffusion" in str(err.value)


@pytest.mark.parametrize("learner", ["diffusion", "bc"])
def test_device_cuda_without_a_gpu_is_a_clear_error(panda_tray_demos, tmp_path, capsys, learner):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert (
        main(
            ["train", learner, "--data", str(panda_tray_demos), "--out", str(tmp_path / "x"), "--device", "cuda", "-q"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "--device cpu" in err and "CUDA build of torch" in err
    assert not (tmp_path / "x").exists()


def test_auto_picks_the_cpu_without_a_gpu_and_policies_load_there(checkpoint):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto") == "cpu"
    model, _, _ = load_checkpoint(checkpoint, device="auto")
    assert next(model.parameters()).device.type == "cpu"
    with pytest.raises(ValueError, match="no CUDA device"):
        load_checkpoint(checkpoint, device="cuda")


def test_policy_arguments_are_checked_and_n_action_sets_the_replanning(checkpoint):
    env = build_env(ENV_ID)
    try:
        spaces = (env.observation_space, env.action_space)
        with pytest.raises(ValueError, match="n_action must be an integer in 1..7"):  # horizon 8, n_obs 2
            DiffusionPolicy(*spaces, checkpoint=checkpoint, n_action="8")
        with pytest.raises(ValueError, match="ddim_steps must be an integer in 1..100"):
            DiffusionPolicy(*spaces, checkpoint=checkpoint, ddim_steps="0")
        policy = DiffusionPolicy(*spaces, checkpoint=checkpoint, n_action="2")  # as --policy-arg gives it
        obs, _ = env.reset(seed=0)
        policy.reset(seed=0)
        policy.act(obs)
        assert len(policy._plan) == 1  # planned 2, executed 1
    finally:
        env.close()


def test_evaluation_is_the_same_with_one_and_two_workers(checkpoint):
    kwargs = dict(episodes=2, policy_kwargs={"checkpoint": str(checkpoint)}, env_kwargs={"horizon": 30}, progress=False)
    a = evaluate(DP, ENV_ID, **kwargs)
    b = evaluate(DP, ENV_ID, workers=2, **kwargs)
    assert a["episodes"] == b["episodes"] and a["policy"]["name"] == "diffusion"
    assert a["policy"]["checkpoint_sha256"] == b["policy"]["checkpoint_sha256"]


def test_the_cli_trains_and_evaluates_a_checkpoint(panda_tray_demos, tmp_path):
    out = tmp_path / "cli"
    assert (
        main(
            [
                "train",
                "diffusion",
                "--data",
                str(panda_tray_demos),
                "--out",
                str(out),
                "--steps",
                "5",
                "--channels",
                "8,16",
                "--horizon",
                "8",
                "--n-action",
                "4",
                "--batch-size",
                "8",
                "--device",
                "cpu",
                "-q",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "eval",
                "--policy",
                DP,
                "--checkpoint",
                str(out),
                "--env",
                ENV_ID,
                "--episodes",
                "1",
                "--out",
                str(tmp_path / "r.json"),
                "-q",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "r.json").read_text())["policy"]["name"] == "diffusion"
