"""Scripted source demos succeed, random actions do not, and subtask signals fire in the spec's
order on the step their subtask really ends (checked against the recorded physics)."""

import numpy as np
import pytest

from dexbench.envs.registry import make_env
from dexbench.envs.tasks import TASKS
from dexbench.envs.tasks.tray_lift import LIFT_HEIGHT_M
from dexbench.generators.scripted import make_demonstrator
from dexbench.rollout import rollout

# Every task on every embodiment it supports: a new task is tested by adding its file.
PAIRS = [(task, emb) for task, cls in TASKS.items() for emb in cls.embodiments]
NATIVE_PAIRS = [(task, cls.native_embodiment) for task, cls in TASKS.items()]
SEEDS = (0, 1)
_cache: dict = {}


def demo(task: str, embodiment: str, seed: int, variant: str = "D0"):
    """A recorded scripted episode (recorded once per session)."""
    key = (task, embodiment, variant, seed)
    if key not in _cache:
        env = make_env(task, embodiment, variant)
        _cache[key] = (env, rollout(env, make_demonstrator(env), seed))
    return _cache[key]


def first_edge(signal: np.ndarray) -> int | None:
    hits = np.flatnonzero(signal)
    return int(hits[0]) if hits.size else None


@pytest.mark.parametrize("task,embodiment", PAIRS)
@pytest.mark.parametrize("seed", SEEDS)
def test_scripted_demo_succeeds(task, embodiment, seed):
    _, episode = demo(task, embodiment, seed)
    assert episode.success


@pytest.mark.parametrize("task,embodiment", PAIRS)
def test_random_actions_fail(task, embodiment):
    env = make_env(task, embodiment)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(env.horizon // 2):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert not info["is_success"]
        if terminated or truncated:
            break


@pytest.mark.parametrize("task,embodiment", PAIRS)
def test_signals_fire_in_spec_order(task, embodiment):
    env, episode = demo(task, embodiment, SEEDS[0])
    signals = episode.datagen_info["subtask_signals"]
    for arm, subtasks in env.task_spec.subtasks.items():
        edges = [first_edge(signals[s.term_signal]) for s in subtasks]
        assert None not in edges, (arm, [s.term_signal for s in subtasks], edges)
        assert edges == sorted(edges), (arm, edges)
    for seq in env.task_spec.sequential:  # the post-subtask starts after the pre-subtask ended
        pre_arm, pre_name = seq.pre
        pre = next(s for s in env.task_spec.subtasks[pre_arm] if s.name == pre_name)
        post_arm, post_name = seq.post
        post = next(s for s in env.task_spec.subtasks[post_arm] if s.name == post_name)
        assert first_edge(signals[pre.term_signal]) < first_edge(signals[post.term_signal])


def _object_z(episode, name):
    return episode.datagen_info["object_pose"][name][:, 2, 3]


@pytest.mark.parametrize("embodiment", ["Panda", "PandaDex", "GR1"])
def test_tray_lift_signals_mark_the_real_subtask_ends(embodiment):
    env, ep = demo("TrayLift", embodiment, SEEDS[0])
    sig, table = ep.datagen_info["subtask_signals"], env.task.table_top_z
    for arm in ("right", "left"):
        cube_z = _object_z(ep, f"cube_{arm}") - table
        grasp = first_edge(sig[f"grasp_cube_{arm}"])
        # The grasp ends while the cube still rests on the table; the lift comes after it.
        assert cube_z[grasp] < 0.035 and cube_z[grasp:].max() > 0.08
        placed = first_edge(sig[f"cube_{arm}_on_tray"])
        # Placed: the hand was opening, and the cube rests above the table (on the tray).
        assert ep.datagen_info["hand_action"][arm][placed].mean() < 0.5
        assert cube_z[placed] > 0.035
    lifted = first_edge(sig["tray_lifted"])
    tray_z = _object_z(ep, "tray") - table
    # The state before step t is recorded, so the tray crosses the lift height at step t + 1.
    assert tray_z[lifted] <= LIFT_HEIGHT_M + 0.01 and tray_z[lifted - 5] < LIFT_HEIGHT_M


@pytest.mark.parametrize("embodiment", ["Panda", "PandaDex", "GR1"])
def test_pouring_signals_mark_the_real_subtask_ends(embodiment):
    env, ep = demo("Pouring", embodiment, SEEDS[0])
    sig, poses = ep.datagen_info["subtask_signals"], ep.datagen_info["object_pose"]
    poured = first_edge(sig["ball_in_bowl"])
    ball_z = _object_z(ep, "ball") - env.task.table_top_z
    # The ball was carried up in the cup, and the signal fires when it has dropped into the bowl
    # (below the bowl's rim) over the bowl, not while it is still in the cup above.
    assert ball_z[:poured].max() > 0.08 and ball_z[poured + 1] < 0.04
    ball_to_bowl = np.linalg.norm(poses["ball"][:, :2, 3] - poses["bowl"][:, :2, 3], axis=1)
    assert ball_to_bowl[poured + 1] < 0.1
    on_pad = first_edge(sig["bowl_on_pad"])
    bowl_to_pad = np.linalg.norm(poses["bowl"][:, :2, 3] - poses["pad"][:, :2, 3], axis=1)
    assert bowl_to_pad[on_pad] < 0.07 and bowl_to_pad[: on_pad - 5].min() > 0.06


@pytest.mark.parametrize("task,embodiment", NATIVE_PAIRS)
def test_reset_to_replays_a_demo_exactly(task, embodiment):
    env, ep = demo(task, embodiment, SEEDS[0])
    env.reset(seed=123)  # somewhere else first
    env.reset_to(ep.states[0])
    for action in ep.actions:
        env.step(action)
    final = env.get_state()
    env.reset_to(ep.states[-1])
    env.step(ep.actions[-1])
    np.testing.assert_array_equal(final, env.get_state())
    assert env.is_success()


@pytest.mark.parametrize("task,embodiment", NATIVE_PAIRS)
def test_dense_reward_tracks_progress(task, embodiment):
    env, ep = demo(task, embodiment, SEEDS[0])
    dense = make_env(task, embodiment, reward_type="dense")
    dense.reset_to(ep.states[0])
    rewards = [dense.step(a)[1] for a in ep.actions]
    assert 0.0 <= min(rewards) and max(rewards) <= 1.0
    assert rewards[0] < 0.2 and rewards[-1] == 1.0  # starts near 0, ends at success
    half = len(rewards) // 2
    assert np.mean(rewards[half:]) > np.mean(rewards[:half])  # more progress later
