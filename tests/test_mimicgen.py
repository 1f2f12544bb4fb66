"""The MimicGen generator: segmentation, object-centric transforms and the three scheduling
mechanisms (parallel, coordination, sequential), each checked on its own."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dexbench.datasets.reader import load_dataset
from dexbench.envs.registry import make_env
from dexbench.envs.tasks.base import Coordination, Subtask, TaskSpec
from dexbench.generators.mimicgen import MimicGenConfig, MimicGenGenerator
from dexbench.generators.mimicgen.policy import transit
from dexbench.generators.mimicgen.segments import Segment, SegmentationError, object_centric, parse_source
from dexbench.generators.runner import run_generation
from dexbench.rollout import rollout


@pytest.fixture(scope="module")
def tray_sources(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "tray.hdf5"
    run_generation("scripted", "DexMG/TrayLift-Panda-D0", None, 2, path, seed=100, progress=False)
    return load_dataset(path)


@pytest.fixture(scope="module")
def pour_sources(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "pour.hdf5"
    run_generation("scripted", "DexMG/Pouring-Panda-D0", None, 2, path, seed=100, progress=False)
    return load_dataset(path)


def run_policy(env, generator, seed, steps=None):
    """Step a generation policy until it is done (not stopping at success), logging per step
    the subtask index of each arm, the arms' targets and the subtask signals."""
    policy = generator.policy(env, np.random.default_rng(seed))
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    log = {"right": [], "left": [], "targets": [], "signals": []}
    for _ in range(steps or env.horizon):
        action = policy.act(obs)
        log["targets"].append({a: p.copy() for a, p in policy.target.items()})
        obs, _, _, truncated, info = env.step(action)
        log["signals"].append(info["subtask_signals"])
        for arm in ("right", "left"):
            log[arm].append(policy.current[arm])
        if policy.done or truncated:
            break
    return policy, log


def still_demo(signals: dict, T: int) -> dict:
    """The datagen info of a T-step demo whose hands never move, with these subtask signals."""
    return {
        "subtask_signals": signals,
        "target_pose": {arm: np.tile(np.eye(4), (T, 1, 1)) for arm in ("right", "left")},
        "eef_pose": {arm: np.tile(np.eye(4), (T, 1, 1)) for arm in ("right", "left")},
        "hand_action": {arm: np.zeros((T, 1)) for arm in ("right", "left")},
        "object_pose": {},
    }


def first(seq, predicate):
    return next(i for i, x in enumerate(seq) if predicate(x))


# ------------------------------------------------------------------ segmentation and transforms
def test_segmentation_by_first_edges_and_coordination():
    task_spec = TaskSpec(
        subtasks={
            "right": (Subtask("a", None, "sig_a"), Subtask("lift", None, "done")),
            "left": (Subtask("b", None, "sig_b"), Subtask("lift", None, "done")),
        },
        coordination=(Coordination({"right": "lift", "left": "lift"}),),
    )
    T = 20
    sig_a, sig_b = np.zeros(T, bool), np.zeros(T, bool)
    sig_a[[4, 5, 12]] = True  # first 0->1 edge at step 4: a's last action is step 4
    sig_b[9:] = True
    info = still_demo({"sig_a": sig_a, "sig_b": sig_b, "done": np.zeros(T, bool)}, T)
    demo = parse_source(0, "demo_0", info, task_spec)
    assert demo.ends == {"right": [5, T], "left": [10, T]}
    assert demo.sync == {("right", 1): T, ("left", 1): T}  # `done` never fired: the group syncs at the end
    assert demo.boundaries("right", offsets=[3]) == [(0, 8), (8, T)]
    info["subtask_signals"]["sig_b"][:] = False
    with pytest.raises(SegmentationError, match="never ends"):
        parse_source(0, "demo_0", info, task_spec)


def test_a_group_that_is_one_arms_last_subtask_syncs_on_the_signal_not_the_demo_end():
    # Transport: the hand-over is the right arm's last subtask but not the left's. Synced at the
    # demo's end, the left arm's hand-over segment swallowed its whole `place` motion.
    task_spec = TaskSpec(
        subtasks={
            "right": (Subtask("a", None, "sig_a"), Subtask("hand", None, "handed")),
            "left": (Subtask("hand", None, "handed"), Subtask("place", None, "placed")),
        },
        coordination=(Coordination({"right": "hand", "left": "hand"}, scheme="replay"),),
    )
    T = 30
    sig = {"sig_a": np.zeros(T, bool), "handed": np.zeros(T, bool), "placed": np.zeros(T, bool)}
    sig["sig_a"][5:] = True
    sig["handed"][14:18] = True
    sig["placed"][25:] = True
    info = still_demo(sig, T)
    demo = parse_source(0, "demo_0", info, task_spec)
    assert demo.ends == {"right": [6, T], "left": [15, T]}  # the right arm moves on to the end
    assert demo.sync == {("right", 1): 15, ("left", 0): 15}


def test_a_hand_over_then_a_place_in_a_moved_bin(tmp_path):
    # Transport-D2 swaps the bins: the hammer must go into the far bin, which only a `place`
    # segment of its own, carried by the target bin, can do (0 of 70 attempts before).
    path = tmp_path / "transport.hdf5"
    run_generation("scripted", "DexMG/Transport-Panda-D0", None, 1, path, seed=100, progress=False)
    env = make_env("Transport", "Panda", "D2")
    with load_dataset(path) as sources:
        gen = MimicGenGenerator(env.env_id, sources, MimicGenConfig(action_noise=0.0))
        _, log = run_policy(env, gen, seed=3)
    assert log["signals"][-1]["hammer_in_bin"] and log["signals"][-1]["trash_in_bin"]


def test_a_start_signal_cuts_the_transit_out_of_a_segment():
    task_spec = TaskSpec(
        subtasks={
            arm: (Subtask("grasp", None, "held"), Subtask("place", None, "placed", start_signal="over"))
            for arm in ("right", "left")
        }
    )
    T = 30
    sig = {"held": np.zeros(T, bool), "over": np.zeros(T, bool), "placed": np.zeros(T, bool)}
    sig["held"][6:] = True
    sig["over"][[3, 17, 18]] = True  # before the grasp ended it does not count
    sig["placed"][25:] = True
    info = still_demo(sig, T)
    demo = parse_source(0, "demo_0", info, task_spec)
    assert demo.boundaries("right") == [(0, 7), (18, T)]  # steps 7-17 carried the object across
    assert demo.begins_with_transit("right", 1, (18, T)) and not demo.begins_with_transit("right", 0, (0, 7))
    del sig["over"]  # a source recorded without the signal keeps its whole motion
    demo = parse_source(0, "demo_0", info, task_spec)
    assert demo.boundaries("right") == [(0, 7), (7, T)] and not demo.begins_with_transit("right", 1, (7, T))


def test_a_transit_goes_up_across_and_down_and_ends_on_the_goal():
    start, goal = np.eye(4), np.eye(4)
    start[:3, 3] = (0.0, 0.3, 0.1)
    goal[:3, 3] = (0.0, -0.2, 0.25)
    goal[:3, :3] = Rotation.from_euler("z", 0.4).as_matrix()
    legs = (15, 50, 0)
    path = transit(start, goal, legs)
    assert len(path) == sum(legs)
    np.testing.assert_allclose(path[-1], goal, atol=1e-12)
    heights = np.array([p[2, 3] for p in path])
    assert np.all(np.diff(heights) >= -1e-12) and heights[14] == pytest.approx(0.25)  # up first, then level
    np.testing.assert_allclose([p[1, 3] for p in path[:15]], 0.3)  # no sideways move while rising
    down = transit(goal, start, (0, 50, 15))  # the other way: across at the start's height, then down
    np.testing.assert_allclose([p[2, 3] for p in down[:50]], 0.25)
    np.testing.assert_allclose(down[-1], start, atol=1e-12)


def test_box_cleanup_with_the_sides_swapped_generates_from_the_default_layout(tmp_path):
    # BoxCleanup-D2 puts the box where D0's lid lay: carried in the box's frame, D0's carry
    # began on the far side of the table (2 % of attempts made a demo on Panda). With the
    # carry left to a transit, it is a place over the box.
    path = tmp_path / "box.hdf5"
    run_generation("scripted", "DexMG/BoxCleanup-Panda-D0", None, 1, path, seed=100, progress=False)
    out = tmp_path / "d2.hdf5"
    report = run_generation(
        "mimicgen", "DexMG/BoxCleanup-Panda-D2", path, 3, out, seed=0, progress=False, max_attempts=6
    )
    assert report.successes == 3
    with load_dataset(path) as sources:  # a source recorded before the signal existed: told, and served whole
        info = sources.episode(sources.keys[0]).datagen_info
        del info["subtask_signals"]["lid_over_box"]
        sources.episode = lambda key: type("Episode", (), {"datagen_info": info})()
        generator = MimicGenGenerator("DexMG/BoxCleanup-Panda-D2", sources, MimicGenConfig())
        with pytest.warns(UserWarning, match="lid_over_box"):
            parsed = generator.parsed(make_env("BoxCleanup", "Panda", "D2"))
    assert parsed[0].begins["right"] == [None, None]


def test_object_centric_transform_follows_the_object():
    rng = np.random.default_rng(0)
    src_obj = np.eye(4)
    src_obj[:3, 3] = [0.1, 0.2, 0.8]
    eef = np.tile(np.eye(4), (3, 1, 1))
    eef[:, :3, 3] = rng.normal(size=(3, 3)) * 0.1 + [0.1, 0.2, 0.9]
    seg = Segment(0, "right", 0, np.arange(3), eef, np.zeros((3, 1)), src_obj)
    move = np.eye(4)
    c, s = np.cos(0.7), np.sin(0.7)
    move[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    move[:3, 3] = [-0.05, 0.1, 0.0]
    now = move @ src_obj
    carried = object_centric(seg, now)
    for k in range(3):  # the EEF keeps its pose relative to the object
        np.testing.assert_allclose(np.linalg.inv(now) @ carried[k], np.linalg.inv(src_obj) @ eef[k], atol=1e-12)


def test_held_object_correction_carries_the_object_not_the_hand():
    # The needle sits 2 cm further out and turned in the hand now than in the source: corrected,
    # the hand's targets move the needle along the source's (carried) needle path, and an arm
    # that holds nothing gets the published targets.
    from types import SimpleNamespace

    from scipy.spatial.transform import Rotation

    from dexbench.generators.mimicgen.policy import MimicGenPolicy

    rng = np.random.default_rng(1)

    def pose(pos, rotvec):
        out = np.eye(4)
        out[:3, :3], out[:3, 3] = Rotation.from_rotvec(rotvec).as_matrix(), pos
        return out

    hand_src = np.stack([pose(rng.normal(size=3) * 0.1, rng.normal(size=3) * 0.3) for _ in range(4)])
    in_hand_src, in_hand_now = pose([0, 0, 0.10], [0, 0, 0]), pose([0.02, 0, 0.11], [0.3, 0, 0.2])
    demo = SimpleNamespace(eef_pose={"right": hand_src}, object_pose={"needle": hand_src @ in_hand_src})
    segment = Segment(0, "right", 1, np.arange(4), hand_src, np.zeros((4, 1)), None)
    hand_now = pose([0.3, -0.1, 0.9], [0.1, 0.2, -0.4])
    grasped = {"needle": True}
    task = SimpleNamespace(
        update_contacts=lambda: None, body_ids={"needle": "needle"}, is_grasped=lambda arm, body: grasped[body]
    )
    policy = object.__new__(MimicGenPolicy)
    policy.env = SimpleNamespace(task=task, eef_poses=lambda: {"right": hand_now})
    correction = policy._grasp_correction("right", "needle", demo, segment, {"needle": hand_now @ in_hand_now})
    for t in range(4):  # where the hand goes, the needle now goes where it went in the source
        np.testing.assert_allclose(hand_src[t] @ correction @ in_hand_now, hand_src[t] @ in_hand_src, atol=1e-12)
    grasped["needle"] = False
    np.testing.assert_array_equal(
        policy._grasp_correction("right", "needle", demo, segment, {"needle": hand_now @ in_hand_now}), np.eye(4)
    )


# ------------------------------------------------------------------ scheduling
def test_parallel_arms_finish_subtasks_at_different_times(tray_sources):
    env = make_env("TrayLift", "Panda", "D0")
    gen = MimicGenGenerator(env.env_id, tray_sources, MimicGenConfig(per_arm_sources=True, action_noise=0.0))
    for seed in range(4):
        _, log = run_policy(env, gen, seed, steps=150)
        starts = [first(log[arm], lambda j: j >= 1) for arm in ("right", "left")]
        if starts[0] != starts[1]:
            return  # each arm moved on to its second subtask on its own schedule
    pytest.fail("the arms never finished their parallel first subtasks at different steps")


def test_coordination_subtask_starts_and_ends_on_the_same_step(tray_sources):
    env = make_env("TrayLift", "Panda", "D0")
    gen = MimicGenGenerator(env.env_id, tray_sources, MimicGenConfig(action_noise=0.0))
    policy, log = run_policy(env, gen, seed=3)
    lift = 3  # index of the coordinated subtask in both arms' lists
    assert first(log["right"], lambda j: j >= lift) == first(log["left"], lambda j: j >= lift)
    assert first(log["right"], lambda j: j > lift) == first(log["left"], lambda j: j > lift)
    # One source and one transform for the group.
    assert policy.source_of["right"][lift] == policy.source_of["left"][lift]


def test_coordinated_arms_stay_in_step_when_one_waited_longer_in_the_source(tmp_path):
    # Threading: in the source the right hand holds the ring still for its last ~70 steps while
    # the left pushes the needle through. Cutting each arm's idle tail on its own, then aligning
    # the ends, played the right arm ~70 steps early: the ring moved before the needle came and
    # every attempt failed. Regenerated on the sources' own scenes, the needle must go through.
    path = tmp_path / "threading.hdf5"
    run_generation("scripted", "DexMG/Threading-Panda-D0", None, 2, path, seed=100, progress=False)
    env = make_env("Threading", "Panda", "D0")
    with load_dataset(path) as sources:
        gen = MimicGenGenerator(env.env_id, sources, MimicGenConfig(action_noise=0.0))
        threaded = []
        for k, demo in enumerate(gen.parsed(env)):
            policy = gen.policy(env, np.random.default_rng(k))
            policy.choose_source = lambda arm, subtask, objects, k=k: k
            episode = rollout(env, policy, int(sources.demo_attrs(demo.key)["seed"]), record=False)
            threaded.append(episode.success)
    assert all(threaded)


def test_sequential_post_subtask_waits_for_the_pre_subtask(pour_sources):
    env = make_env("Pouring", "Panda", "D0")
    gen = MimicGenGenerator(env.env_id, pour_sources, MimicGenConfig(action_noise=0.0))
    _, log = run_policy(env, gen, seed=5, steps=260)
    poured = first(log["signals"], lambda s: s["ball_in_bowl"])
    right_starts = first(log["right"], lambda j: j >= 0)
    assert right_starts > poured  # the right arm started reaching only after the pour ended
    waiting = [t["right"] for t in log["targets"][:right_starts]]
    assert right_starts > 50 and all(np.allclose(w, waiting[0]) for w in waiting)  # seen waiting


def test_without_sequential_constraints_the_post_arm_does_not_wait(pour_sources):
    # The ablation switch: the right arm sets off on its bowl segment while the pour is still
    # going on (the same source and seed wait for the pour with the constraint on, above).
    env = make_env("Pouring", "Panda", "D0")
    gen = MimicGenGenerator(env.env_id, pour_sources, MimicGenConfig(action_noise=0.0, sequential_constraints=False))
    _, log = run_policy(env, gen, seed=5, steps=260)
    right_starts = first(log["right"], lambda j: j >= 0)
    assert not any(s["ball_in_bowl"] for s in log["signals"][: right_starts + 1])
    assert right_starts < 20


def test_a_post_subtask_after_an_arms_last_subtask_starts_on_its_signal_and_skips_the_source_wait(tmp_path):
    # PieceAssembly: the left arm seats piece 2 once the right arm's last subtask (seating piece
    # 1) has fired its signal. The right arm's last segment runs on (moving aside), and the left
    # arm's source segment holds a long wait for piece 1: waiting for the end of the one and
    # replaying the other ran past the horizon on every attempt.
    path = tmp_path / "pieces.hdf5"
    run_generation("scripted", "DexMG/PieceAssembly-Panda-D0", None, 2, path, seed=100, progress=False)
    env = make_env("PieceAssembly", "Panda", "D0")
    with load_dataset(path) as sources:
        gen = MimicGenGenerator(env.env_id, sources, MimicGenConfig(action_noise=0.0))
        _, log = run_policy(env, gen, seed=7)
    seated = first(log["signals"], lambda s: s["place_piece1"])
    left_places = first(log["left"], lambda j: j == 1)
    right_done = first(log["right"], lambda j: j == 2)
    assert seated < left_places < right_done  # after the signal, while the right arm still moves
    assert log["signals"][-1]["place_piece2"]


def test_generated_demo_records_sources_and_subtask_index(tray_sources):
    env = make_env("TrayLift", "Panda", "D1")
    gen = MimicGenGenerator(env.env_id, tray_sources)
    policy = gen.policy(env, np.random.default_rng(1))
    ep = rollout(env, policy, 11)
    info = policy.attempt_info()
    assert set(info.source_demos) == {"right", "left"}
    for arm in ("right", "left"):
        idx = info.subtask_index[arm]
        assert len(idx) == len(ep.actions) and np.all(np.diff(idx) >= 0)
        assert all(0 <= s < len(tray_sources) for s in info.source_demos[arm])
    assert (info.failure_subtask is None) == ep.success


def test_unusable_sources_are_skipped_with_a_warning(tray_sources, tmp_path):
    from dexbench.datasets.writer import DatasetWriter

    env = make_env("TrayLift", "Panda", "D0")
    bad = tray_sources.episode(tray_sources.keys[0])
    bad.datagen_info["subtask_signals"]["grasp_tray_right"][:] = False  # never ends
    good = tray_sources.episode(tray_sources.keys[1])
    path = tmp_path / "mixed.hdf5"
    with DatasetWriter(path, env) as writer:
        writer.add_episode(bad)
        writer.add_episode(good)
    gen = MimicGenGenerator(env.env_id, load_dataset(path))
    with pytest.warns(UserWarning, match="skips a source.*grasp_handle"):
        sources = gen.parsed(env)
    assert [s.key for s in sources] == ["demo_1"] and sources[0].index == 1
