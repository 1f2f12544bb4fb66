"""The off-policy residual learner (td3): its sanity case, exact resume, and its refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from dexbench.generators.flywheel.residual import ResidualPolicy, resolve_device, train_residual
from dexbench.generators.flywheel.sanity import SanityFactory

SMALL = {"hidden": 64, "learning_starts": 100, "critic_warmup": 100, "batch_size": 64}


def run_episodes(env, policy, seeds) -> np.ndarray:
    outcomes = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        policy.reset(seed)
        while True:
            obs, _, terminated, truncated, info = env.step(policy.act(obs).astype(np.float32))
            if terminated or truncated:
                outcomes.append(bool(info["is_success"]))
                break
    return np.array(outcomes)


def actor_weights(folder) -> dict[str, torch.Tensor]:
    return torch.load(folder / "residual.pt", weights_only=True)


def test_the_residual_learns_the_sanity_case(tmp_path):
    """The oracle with its hand commands scaled to 0.3 fails; a residual trained on it (with the
    clean oracle's demonstrations) must undo that on new seeds, paired against the corrupted base."""
    env, base, teacher = SanityFactory().make()
    record = train_residual(
        env,
        base,
        tmp_path,
        6_000,
        alpha=0.5,
        epsilon_steps=0,
        learner="td3",
        reward="sparse",
        teacher=teacher,
        demo_episodes=5,
        seed=0,
        learner_overrides={"critic_warmup": 1_000, "learning_starts": 1_000},
    )
    assert record["demo_transitions"] > 1_000
    seeds = range(10_000, 10_010)
    corrected = ResidualPolicy(env.observation_space, env.action_space, residual=str(tmp_path), base=base)
    alone = run_episodes(env, base, seeds)
    both = run_episodes(env, corrected, seeds)
    assert alone.sum() <= 1, "the corrupted oracle should fail (the sanity case is broken)"
    assert both.sum() >= 6, f"base + residual {both.sum()}/10 against the corrupted base's {alone.sum()}/10"


TRAIN = f"""
import sys
from dexbench.generators.flywheel.residual import train_residual
from dexbench.generators.flywheel.sanity import SanityFactory
env, base, teacher = SanityFactory().make()
train_residual(env, base, sys.argv[1], int(sys.argv[2]), alpha=0.5, epsilon_steps=0, learner="td3", reward="sparse",
               teacher=teacher, demo_episodes=1, seed=3, learner_overrides={SMALL!r}, checkpoint_every=200,
               resume=True)
"""


def test_a_killed_training_resumes_to_the_same_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run([sys.executable, str(script), str(whole), "900"], check=True, timeout=600)
    process = subprocess.Popen([sys.executable, str(script), str(killed), "900"])
    state = killed / "train_state" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (state.is_file() and json.loads(state.read_text())["steps"] >= 400):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # mid-episode, between checkpoints
    process.wait()
    assert not (killed / "residual.json").exists(), "the run finished before it was killed: make it longer"
    subprocess.run([sys.executable, str(script), str(killed), "900"], check=True, timeout=600)
    a, b = actor_weights(whole), actor_weights(killed)
    assert any(v.abs().sum() > 0 for v in a.values()), "the actor never moved: the test would prove nothing"
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert (
        json.loads((whole / "residual.json").read_text())["episodes"]
        == json.loads((killed / "residual.json").read_text())["episodes"]
    )


def test_resume_refuses_another_trainings_checkpoint(tmp_path):
    env, base, teacher = SanityFactory().make()
    common = dict(
        alpha=0.5, epsilon_steps=0, learner="td3", reward="sparse", learner_overrides=SMALL, checkpoint_every=100
    )
    train_residual(env, base, tmp_path, 300, seed=0, **common)
    with pytest.raises(ValueError, match="another residual training.*seed"):
        train_residual(env, base, tmp_path, 600, seed=1, resume=True, **common)


def test_cuda_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="no CUDA device.*--device cpu"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


def test_bad_td3_settings_are_refused_before_any_env_step(tmp_path):
    env, base, _ = SanityFactory().make()
    for bad, message in (({"critics": 1}, "critics"), ({"gamma": 1.5}, "gamma"), ({"n_step": 0}, "n_step")):
        with pytest.raises(ValueError, match=message):
            train_residual(env, base, tmp_path, 100, learner="td3", learner_overrides=bad)
    with pytest.raises(ValueError, match="td3"):
        train_residual(env, base, tmp_path, 100, learner="ppo", workers=2)


def test_a_finished_runs_replay_carries_into_a_larger_budget_oldest_first():
    from dexbench.generators.flywheel.td3 import Replay

    small = Replay(2, 1, 5)
    for i in range(7):  # wraps: holds 2..6, the next write at index 2
        small.add(np.full(2, i), np.zeros(1), i, 1.0, np.zeros(2))
    larger = Replay(2, 1, 10)
    larger.restore(small.arrays("r_"), "r_")
    assert larger.ret[: larger.size].tolist() == [2, 3, 4, 5, 6] and larger.head == 5
    with pytest.raises(ValueError, match="more than this run's"):
        Replay(2, 1, 3).restore(small.arrays("r_"), "r_")


def test_actor_l2_holds_the_correction_back_where_the_critic_barely_prefers_one():
    """A critic that pays a little for a bigger first action dimension: without the pull the actor
    runs to the bound, with `actor_l2` it stops where the pull outweighs the gain."""
    from dexbench.generators.flywheel.td3 import ResidualTD3, TD3Config
    from dexbench.policies.bc.policy import one_thread

    sizes = {}
    for l2 in (0.0, 5.0):
        config = TD3Config(
            hidden=32,
            batch_size=64,
            learning_starts=1,
            critic_warmup=100,
            actor_lr=1e-3,
            n_step=1,
            policy_delay=1,
            actor_l2=l2,
        )
        model = ResidualTD3(3, 1, config, seed=0, capacity=500)
        rng = np.random.default_rng(0)
        for _ in range(500):  # one-step episodes: reward 0.1 * a, actions spread over [-1, 1]
            obs, act = rng.normal(size=3), rng.uniform(-1, 1, size=1)
            model.observe(0, obs, act, 0.1 * act[0], obs, terminated=True, ended=True)
        with one_thread():
            for _ in range(500):
                stats = model.update()
        sizes[l2] = stats["delta"]
    assert sizes[0.0] > 0.3, sizes
    assert sizes[5.0] < 0.5 * sizes[0.0], sizes
