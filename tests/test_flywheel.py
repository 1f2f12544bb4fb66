"""stable-baselines3 (the suite's RL library) on our envs, and the flywheel's residual RL problem:
the corrected action, the epsilon schedule, the reward, and SB3's own checks and training loop.
(Here, not in test_env.py: the minimum-mujoco CI stage runs test_env.py without the extras.)"""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env

import dexbench  # noqa: F401
from dexbench.generators.flywheel.residual import ResidualEnv, action_units
from dexbench.policies import ScriptedPolicy


def residual_env(env_id="DexMG/TrayLift-Panda-D0", **kwargs):
    env = gym.make(env_id, reward_type="dense", terminate_on_success=True).unwrapped
    return ResidualEnv(env, ScriptedPolicy(env.observation_space, env.action_space, env), **kwargs)


def test_stable_baselines3_checks_and_trains_on_it():
    env = residual_env()
    check_env(env)
    PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu").learn(128)
    assert env.steps_taken >= 128


@pytest.mark.parametrize("env_id", ["DexMG/TrayLift-Panda-D0", "DexMG/Pouring-GR1-D0"])  # delta, absolute
def test_the_corrected_action_is_base_plus_alpha_times_the_residual(env_id):
    env = residual_env(env_id, alpha=0.2, epsilon_steps=0)
    executed = []
    step = env.env.step
    env.env.step = lambda action: executed.append(np.asarray(action, dtype=np.float64)) or step(action)
    env.reset(seed=0)
    base = env._base_action.copy()
    delta = np.linspace(-0.5, 0.5, env.action_space.shape[0])
    env.step(delta)
    expected = np.clip(base + 0.2 * action_units(env.env) * delta, env.env.action_space.low, env.env.action_space.high)
    np.testing.assert_allclose(executed[0], expected, atol=1e-6)
    assert env.corrected


def test_epsilon_rises_linearly_and_the_base_acts_alone_at_first():
    env = residual_env(epsilon_steps=200)
    env.reset(seed=1)
    corrected = []
    for _ in range(300):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        corrected.append(env.corrected)
        if terminated or truncated:
            env.reset()
    early, middle, late = np.mean(corrected[:40]), np.mean(corrected[80:120]), np.mean(corrected[200:])
    assert early < 0.25 and 0.25 < middle < 0.75 and late == 1.0
    assert env.epsilon == 1.0


def test_a_zero_residual_on_a_perfect_base_earns_the_success_bonus_and_ends():
    env = residual_env(success_bonus=5.0)
    env.reset(seed=2)
    for _ in range(env.env.horizon):
        _, reward, terminated, truncated, info = env.step(np.zeros(env.action_space.shape))
        if terminated or truncated:
            break
    assert terminated and info["is_success"] and reward == pytest.approx(1.0 + 5.0)


def test_it_refuses_an_env_without_dense_reward():
    env = gym.make("DexMG/TrayLift-Panda-D0").unwrapped
    with pytest.raises(ValueError, match="reward_type='dense'"):
        ResidualEnv(env, ScriptedPolicy(env.observation_space, env.action_space, env))


def test_stable_baselines3_drives_a_plain_env_unchanged():
    env = gym.make("DexMG/Pouring-GR1-D0", reward_type="dense")
    check_env(env.unwrapped)
    PPO("MultiInputPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu").learn(64)
