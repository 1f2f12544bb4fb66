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


def test_a_held_correction_lasts_hold_env_steps_while_the_base_acts_at_each():
    env = residual_env(alpha=0.2, epsilon_steps=0, hold=4, success_bonus=0.0)
    executed, bases = [], []
    step = env.env.step
    env.env.step = lambda action: executed.append(np.asarray(action, dtype=np.float64)) or step(action)
    env.reset(seed=0)
    act = env.base.act
    env.base.act = lambda obs: bases.append(np.asarray(act(obs), dtype=np.float64)) or bases[-1]
    bases.append(env._base_action.copy())
    delta = np.linspace(-0.5, 0.5, env.action_space.shape[0])
    _, reward, _, _, _ = env.step(delta)
    assert env.steps_taken == 4 and len(executed) == 4
    low, high = env.env.action_space.low, env.env.action_space.high
    for executed_action, base in zip(executed, bases):  # each env step: that step's base + the same correction
        np.testing.assert_allclose(
            executed_action, np.clip(base + 0.2 * action_units(env.env) * delta, low, high), atol=1e-6
        )
    assert not np.allclose(bases[0], bases[3])  # the base moved on while the correction was held
    with pytest.raises(ValueError, match="hold"):
        residual_env(hold=0)


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


def test_a_residual_can_train_on_given_configurations_in_turn():
    env = residual_env(configurations=[11, 12])
    starts = []
    for _ in range(3):  # SB3 resets without a seed after the first: the configurations come in turn
        env.reset()
        starts.append(env.env.get_state())
    for state, seed in zip(starts, (11, 12, 11)):
        env.env.reset(seed=seed)
        np.testing.assert_array_equal(state, env.env.get_state())
    assert not np.array_equal(starts[0], starts[1])


def test_it_refuses_an_env_without_dense_reward():
    env = gym.make("DexMG/TrayLift-Panda-D0").unwrapped
    with pytest.raises(ValueError, match="reward_type='dense'"):
        ResidualEnv(env, ScriptedPolicy(env.observation_space, env.action_space, env))


def test_stable_baselines3_drives_a_plain_env_unchanged():
    env = gym.make("DexMG/Pouring-GR1-D0", reward_type="dense")
    check_env(env.unwrapped)
    PPO("MultiInputPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu").learn(64)


# ------------------------------------------------------------------ the flywheel generator and pipeline
import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from dexbench.datasets import load_dataset  # noqa: E402
from dexbench.generators import get_generator  # noqa: E402
from dexbench.generators.flywheel import FlywheelConfig, FlywheelGenerator  # noqa: E402
from dexbench.generators.flywheel.residual import ResidualPolicy  # noqa: E402
from dexbench.generators.runner import run_generation  # noqa: E402
from dexbench.pipelines.flywheel import flywheel_table, run_flywheel  # noqa: E402

FLY_ENV = "DexMG/TrayLift-Panda-D0"
# Three iterations at the smallest scale that exercises every stage (seconds, not an hour).
TINY = {"iterations": 3, "budgets": (2, 2), "rollouts": 2, "bc_steps": 40, "residual_steps": 128, "epsilon_steps": 64}


@pytest.fixture(scope="module")
def seed_demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("flywheel") / "seed.hdf5"
    run_generation("scripted", FLY_ENV, None, 1, path, env_kwargs={"horizon": 300}, progress=False)
    return path


@pytest.fixture(scope="module")
def flywheel_run(seed_demo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("flywheel_run")
    return workdir, run_flywheel(FLY_ENV, seed_demo, workdir, n=2, config=TINY, episodes=1, progress=False)


def test_flywheel_is_registered_and_checks_its_config():
    assert get_generator("flywheel") is FlywheelGenerator
    assert FlywheelGenerator.parse_config({"budgets": "[4, 20]", "scale": "0.5"}).budget(2) == 10
    with pytest.raises(ValueError, match="budgets"):
        FlywheelConfig(iterations=3, budgets=(20,))
    with pytest.raises(ValueError, match="learner"):
        FlywheelConfig(learner="dqn")
    env = gym.make("DexMG/Transport-Panda-D0").unwrapped
    with pytest.raises(ValueError, match="declares no object variants"):
        FlywheelGenerator("DexMG/Transport-Panda-D0", None).check(env)


def test_the_flywheel_grows_data_on_new_objects_and_reports_each_iteration(flywheel_run):
    workdir, report = flywheel_run
    rows = report["rows"]
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    assert rows[0]["objects"] == 1 and "base_on_new_objects" not in rows[0]  # warm-up: reference objects
    assert [r["trajectories"] for r in rows] == [2, 4, 6]
    for r in rows[1:]:
        assert r["base_on_new_objects"]["attempts"] == r["residual_on_new_objects"]["attempts"] == TINY["rollouts"]
        assert set(r["cpu_s"]) == {"generation", "bc", "residual_rl", "rollouts"}
        assert r["residual_train"]["steps"] == TINY["residual_steps"]
    with load_dataset(workdir / "flywheel.hdf5") as ds:
        assert len(ds) == 2
        assert ds.env_kwargs["object_variants"] == "random" and ds.env_kwargs["horizon"] == 300  # the seed's env
        assert any(k.endswith("_variant") for k in ds.obs_keys(ds.keys[0]))
    with load_dataset(workdir / "flywheel.stages" / "iter1" / "data.hdf5") as ds:
        assert ds.env_kwargs["object_variants"] == {"cube_right": "reference", "cube_left": "reference"}
    for i in (1, 2, 3):
        result = json.loads((workdir / f"eval_iter{i}.json").read_text())
        assert result["env_kwargs"] == {"object_variants": "random"} and result["num_episodes"] == 1
    table = flywheel_table(report)
    assert "| 3 | " in table and "base + residual on new objects" in table


def test_the_residual_policy_adds_alpha_times_the_correction(flywheel_run):
    workdir, _ = flywheel_run
    stage = workdir / "flywheel.stages" / "iter3"
    env = gym.make(FLY_ENV, object_variants="random").unwrapped
    base = ResidualPolicy(env.observation_space, env.action_space, str(stage / "bc"))
    both = ResidualPolicy(env.observation_space, env.action_space, str(stage / "bc"), str(stage / "residual"))
    obs, _ = env.reset(seed=5)
    a, b = base.act(obs), both.act(obs)
    # The residual sees the state on the base's scale (its training data's mean and std).
    keys, mean, std = base.base.observation_stats()
    assert keys == both.obs_keys
    state = np.concatenate([np.asarray(obs[k], np.float32).ravel() for k in keys])
    x = np.concatenate([(state - mean) / std, a]).astype(np.float32)
    delta = np.clip(both.model.predict(x, deterministic=True)[0], -1, 1)
    expected = np.clip(a + both.alpha * both.units * delta, env.action_space.low, env.action_space.high)
    np.testing.assert_allclose(b, expected, atol=1e-6)
    assert not np.allclose(a, b)


def test_compare_accepts_the_flywheel_and_tests_on_new_objects(flywheel_run, seed_demo):
    from dexbench.pipelines.compare import compare_generators
    from dexbench.policies.bc.train import BCConfig

    # The flywheel's output there is reused (made with the same settings), as compare reuses any finished stage.
    workdir, report = flywheel_run
    summary = compare_generators(
        FLY_ENV,
        seed_demo,
        [("flywheel", "flywheel", TINY)],
        n=2,
        workdir=workdir,
        episodes=1,
        include_source=False,
        train_config=BCConfig(steps=20),
        objects="random",
        progress=False,
    )
    (row,) = summary["rows"]
    assert row["data"] == "flywheel" and row["num_demos"] == 2
    assert row["generation_success_rate"] == report["rows"][-1]["generation_success"]
    assert json.loads(open(row["eval"]).read())["env_kwargs"] == {"object_variants": "random"}


def test_the_flywheel_survives_a_kill_and_resumes_to_the_same_data(flywheel_run, seed_demo, tmp_path):
    workdir, report = flywheel_run
    code = (
        "from dexbench.pipelines.flywheel import run_flywheel; "
        f"run_flywheel({FLY_ENV!r}, {str(seed_demo)!r}, {str(tmp_path)!r}, n=2, config={TINY!r}, episodes=1, "
        "progress=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = tmp_path / "flywheel.stages" / "iter3" / "bc"  # killed while iteration 3 trains
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "flywheel.hdf5").exists()
    warmup = tmp_path / "flywheel.stages" / "iter1" / "data.hdf5"
    before = warmup.stat().st_mtime_ns
    resumed = run_flywheel(FLY_ENV, seed_demo, tmp_path, n=2, config=TINY, episodes=1, progress=False)
    assert warmup.stat().st_mtime_ns == before  # a finished stage is reused, not made again
    with load_dataset(tmp_path / "flywheel.hdf5") as a, load_dataset(workdir / "flywheel.hdf5") as b:
        assert a.keys == b.keys
        for key in a.keys:
            np.testing.assert_array_equal(a.array(key, "actions"), b.array(key, "actions"))
    assert [r["test_success"] for r in resumed["rows"]] == [r["test_success"] for r in report["rows"]]
    assert [r["residual_on_new_objects"] for r in resumed["rows"][1:]] == [
        r["residual_on_new_objects"] for r in report["rows"][1:]
    ]


def test_the_successes_of_both_rollout_stages_are_kept_in_attempt_order(seed_demo, tmp_path):
    from dexbench.generators.flywheel.stages import _keep

    first, second = tmp_path / "base.hdf5", tmp_path / "residual.hdf5"
    run_generation(
        "scripted", FLY_ENV, None, 2, first, seed=3, env_kwargs={"object_variants": "random"}, progress=False
    )
    run_generation(
        "scripted", FLY_ENV, None, 1, second, seed=3, env_kwargs={"object_variants": "random"}, progress=False
    )
    _keep([first, second], tmp_path / "kept.hdf5", FLY_ENV, {"object_variants": "random"}, 3)
    with load_dataset(tmp_path / "kept.hdf5") as kept, load_dataset(first) as a, load_dataset(second) as b:
        assert len(kept) == 3 and kept.env_kwargs["object_variants"] == "random"
        assert [kept.demo_attrs(k)["attempt"] for k in kept.keys] == [0, 0, 1]
        np.testing.assert_array_equal(kept.array(kept.keys[1], "actions"), b.array(b.keys[0], "actions"))
        np.testing.assert_array_equal(kept.array(kept.keys[2], "actions"), a.array(a.keys[1], "actions"))


@pytest.mark.parametrize("learner", ["ppo", "sac"])
def test_an_untrained_residual_corrects_nothing(learner):
    """In delta action mode a constant correction walks the hand away: the residual starts at zero."""
    from dexbench.generators.flywheel.sb3_learners import make_learner

    env = residual_env()
    model = make_learner(learner, env, seed=0, steps=64)
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        delta, _ = model.predict(obs, deterministic=True)
        assert np.all(delta == 0)
        obs, *_ = env.step(delta)
