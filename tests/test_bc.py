"""The BC baseline: it fits demos, checkpoints load safely (tensors only), the same checkpoint
evaluates to the same numbers, and bad checkpoints are refused with a clear error."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import torch

from dexbench.cli import main
from dexbench.envs.registry import make_env
from dexbench.evaluation import evaluate
from dexbench.policies.bc import train as bc_train
from dexbench.policies.bc.data import load_demo_arrays
from dexbench.policies.bc.policy import BCPolicy, load_checkpoint
from dexbench.policies.bc.train import BCConfig, train_bc
from dexbench.policies.checkpoint_folders import TrainingDiverged, save_checkpoint

ENV_ID = "DexMG/TrayLift-Panda-D0"
BC = "dexbench.policies:BCPolicy"


@pytest.fixture(scope="module")
def demos(panda_tray_demos):
    return panda_tray_demos


@pytest.fixture(scope="module")
def mlp_checkpoint(demos, tmp_path_factory):
    out = tmp_path_factory.mktemp("bc") / "mlp"
    report = train_bc(demos, out, BCConfig(steps=300, hidden=64, layers=2, batch_size=64, log_every=50), progress=False)
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
    kwargs = dict(
        episodes=2, policy_kwargs={"checkpoint": str(mlp_checkpoint)}, env_kwargs={"horizon": 40}, progress=False
    )
    a = evaluate(BC, ENV_ID, **kwargs)
    b = evaluate(BC, ENV_ID, workers=2, **kwargs)
    assert a["episodes"] == b["episodes"]
    assert a["policy"]["checkpoint_sha256"] == b["policy"]["checkpoint_sha256"]


def test_recurrent_variant_trains_and_acts(demos, tmp_path):
    out = tmp_path / "rnn"
    assert (
        main(
            [
                "train",
                "bc",
                "--data",
                str(demos),
                "--out",
                str(out),
                "--arch",
                "rnn",
                "--steps",
                "40",
                "--hidden",
                "32",
                "--layers",
                "1",
                "--batch-size",
                "16",
                "-q",
            ]
        )
        == 0
    )
    result = evaluate(
        BC, ENV_ID, episodes=1, policy_kwargs={"checkpoint": str(out)}, env_kwargs={"horizon": 15}, progress=False
    )
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


# --- hostile input: options, data and checkpoints that used to hang, train garbage or crash ---

SMALL = dict(steps=20, hidden=16, layers=1, batch_size=16, log_every=5)


def _edited_copy(src, tmp_path, edit, name="edited.hdf5"):
    """A copy of the dataset `src` changed in place by `edit(h5py.File)`."""
    path = tmp_path / name
    shutil.copy(src, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


@pytest.mark.parametrize(
    "option, value, allowed",
    [
        ("chunk", 100_000, "1..1000"),
        ("chunk", 0, "1..1000"),
        ("seq_len", 5_000, "1..1000"),
        ("hidden", 0, "1..16384"),
        ("layers", -1, "1..64"),
        ("layers", 0, "1..64"),
        ("obs_noise", -1.0, ">= 0"),
        ("obs_noise", float("nan"), ">= 0"),
        ("threads", -1, "0..1024"),
        ("lr", 0.0, "> 0"),
        ("lr", -1e-3, "> 0"),
        ("lr", float("nan"), "> 0"),
        ("lr", float("inf"), "> 0"),
        ("weight_decay", -1e-4, ">= 0"),
        ("val_fraction", 1.0, "[0, 1)"),
        ("val_fraction", -0.1, "[0, 1)"),
        ("log_every", 0, ">= 1"),
        ("checkpoint_every", 0, ">= 1"),
        ("steps", 0, "1.."),
        ("batch_size", 0, "1.."),
        ("seed", -1, "0.."),
        ("hidden", 2.5, "1..16384"),
        ("layers", True, "1..64"),
    ],
)
def test_an_out_of_range_option_is_refused_naming_the_option_and_its_range(demos, tmp_path, option, value, allowed):
    with pytest.raises(ValueError, match=option) as err:
        train_bc(demos, tmp_path / "out", BCConfig(**{**SMALL, option: value}), progress=False)
    assert allowed in str(err.value) and repr(value) in str(err.value)
    assert not (tmp_path / "out").exists()


def test_zero_threads_means_torchs_default_and_is_accepted():
    assert BCConfig(threads=0).threads == 0  # made without a complaint


def test_the_cli_refuses_a_huge_chunk_at_once_with_a_one_line_error(demos, tmp_path, capsys):
    assert main(["train", "bc", "--data", str(demos), "--out", str(tmp_path / "o"), "--chunk", "100000", "-q"]) == 2
    err = capsys.readouterr().err
    assert "--chunk" in err and "1..1000" in err and len(err.strip().splitlines()) == 1


def test_a_chunk_or_window_longer_than_every_demo_is_refused_naming_the_demo_length(demos, tmp_path):
    longest = max(len(a) for a in load_demo_arrays(demos).actions)
    with pytest.raises(ValueError, match=f"longest demo \\({longest} steps\\)"):
        train_bc(demos, tmp_path / "m", BCConfig(**SMALL, chunk=longest + 1), progress=False)
    with pytest.raises(ValueError, match="seq_len .*longest demo"):
        train_bc(demos, tmp_path / "r", BCConfig(**SMALL, arch="rnn", seq_len=longest + 1), progress=False)


@pytest.mark.parametrize("max_demos", [0, -1])
def test_max_demos_below_one_is_refused_instead_of_training_on_all_demos(demos, tmp_path, capsys, max_demos):
    with pytest.raises(ValueError, match="max_demos"):
        train_bc(demos, tmp_path / "out", BCConfig(**SMALL), progress=False, max_demos=max_demos)
    assert (
        main(["train", "bc", "--data", str(demos), "--out", str(tmp_path / "o"), "--max-demos", str(max_demos), "-q"])
        == 2
    )
    assert "--max-demos" in capsys.readouterr().err


@pytest.mark.parametrize("field, bad", [("actions", np.nan), ("actions", np.inf), ("obs/tray_pose", np.nan)])
def test_non_finite_training_data_is_refused_naming_the_demo_and_the_array(demos, tmp_path, capsys, field, bad):
    def poison(f):
        f[f"/data/demo_1/{field}"][3, 0] = bad

    path = _edited_copy(demos, tmp_path, poison)
    out = tmp_path / "out"
    assert main(["train", "bc", "--data", str(path), "--out", str(out), "--steps", "20", "--hidden", "16", "-q"]) == 2
    err = capsys.readouterr().err
    assert "demo_1" in err and ("actions" if field == "actions" else "observations") in err and "step 3" in err
    assert not out.exists()  # no checkpoint claiming success


def test_a_diverging_run_stops_with_an_error_and_keeps_the_last_good_checkpoint(demos, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_loss, calls = bc_train._loss, []

    def loss_going_nan_at_step_8(*args):
        calls.append(1)
        loss = real_loss(*args)
        return loss * float("nan") if len(calls) >= 8 else loss

    monkeypatch.setattr(bc_train, "_loss", loss_going_nan_at_step_8)
    with pytest.raises(TrainingDiverged, match="step 8 .*last good checkpoint \\(step 5\\)"):
        train_bc(demos, out, BCConfig(**{**SMALL, "checkpoint_every": 5}), progress=False)
    assert json.loads((out / "config.json").read_text())["steps_done"] == 5
    load_checkpoint(out)  # still whole and loadable


def test_a_run_diverging_before_its_first_checkpoint_writes_nothing(demos, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "train",
                "bc",
                "--data",
                str(demos),
                "--out",
                str(out),
                "--steps",
                "20",
                "--hidden",
                "16",
                "--lr",
                "1e30",
                "-q",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "diverged" in err and "--lr" in err and "no checkpoint" in err
    assert not (out / "model.pt").exists()


def test_train_checks_its_out_folder_before_any_work(demos, mlp_checkpoint, tmp_path, capsys, monkeypatch):
    real = bc_train.train_bc

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained although --out was refused")

    monkeypatch.setattr(bc_train, "train_bc", must_not_train)
    train = ["train", "bc", "--data", str(demos), "--steps", "20", "--hidden", "16", "-q"]
    out = tmp_path / "ckpt"
    shutil.copytree(mlp_checkpoint, out)
    before = (out / "model.pt").read_bytes()
    assert main([*train, "--out", str(out)]) == 2  # an earlier checkpoint: kept without --overwrite
    assert "already holds files; pass --overwrite" in capsys.readouterr().err
    assert (out / "model.pt").read_bytes() == before

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main([*train, "--out", str(foreign), "--overwrite"]) == 2  # not a folder train bc wrote
    assert "holds notes.txt, which train bc does not write" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"
    monkeypatch.chdir(out)  # the current folder, even a checkpoint one
    assert main([*train, "--out", ".", "--overwrite"]) == 2
    assert "is the current folder" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)

    (tmp_path / "afile").write_text("")
    assert main([*train, "--out", str(tmp_path / "afile" / "ckpt")]) == 2  # cannot be made
    err = capsys.readouterr().err
    assert "cannot write" in err and "--out" in err and "Traceback" not in err
    assert main([*train, "--out", str(tmp_path / "afile")]) == 2
    assert "a file, not a folder" in capsys.readouterr().err

    monkeypatch.setattr(bc_train, "train_bc", real)
    (out / "step_300").mkdir()  # an earlier run's kept checkpoint: --overwrite replaces the whole folder
    shutil.copy(out / "model.pt", out / "step_300" / "model.pt")
    assert main([*train, "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["steps_done"] == 20
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.pt", "train_log.json"]
    fresh = tmp_path / "fresh" / "ckpt"
    assert main([*train, "--out", str(fresh), "--steps", "1"]) == 0 and (fresh / "model.pt").is_file()


def test_no_checkpoint_json_is_ever_written_with_nan(mlp_checkpoint, tmp_path):
    out = tmp_path / "ckpt"
    shutil.copytree(mlp_checkpoint, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    model, config, _ = load_checkpoint(out)
    with pytest.raises(ValueError, match="NaN or Infinity"):
        save_checkpoint(out, model, config, {"step": [1], "train_loss": [float("nan")], "val_loss": [None]})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the last checkpoint is untouched


def test_an_empty_dataset_is_refused_with_a_clear_error(demos, tmp_path, capsys):
    def drop_all(f):
        for key in list(f["data"]):
            del f["data"][key]

    path = _edited_copy(demos, tmp_path, drop_all)
    assert main(["train", "bc", "--data", str(path), "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "no demos to train on" in capsys.readouterr().err
    data = load_demo_arrays(demos)
    empty = bc_train.DemoArrays([], [], data.obs_keys, data.env_id, data.env_kwargs)
    with pytest.raises(ValueError, match="no demos to train on"):
        train_bc(empty, tmp_path / "m", BCConfig(**SMALL), progress=False)


def test_a_single_demo_trains_without_a_validation_split(demos, tmp_path):
    report = train_bc(demos, tmp_path / "one", BCConfig(**SMALL, val_fraction=0.5), progress=False, max_demos=1)
    assert report.train_demos == 1 and report.val_demos == 0 and report.val_loss is None
    assert np.isfinite(report.final_train_loss)


def _damage_config(text):
    return lambda d: (d / "config.json").write_text(text)


def _with_config(**changes):
    def edit(d):
        config = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**config, **changes}))

    return edit


def _nan_weights(d):
    state = torch.load(d / "model.pt", weights_only=True)
    next(v for k, v in state.items() if k.endswith("weight"))[0] = float("nan")
    torch.save(state, d / "model.pt")


@pytest.mark.parametrize(
    "damage, message",
    [
        (_damage_config("{"), "config.json is not valid JSON .*retrain"),
        (lambda d: (d / "config.json").write_bytes(b"\xff\xfe"), "config.json is not valid JSON"),
        (_damage_config("[1, 2]"), "config.json is not a dexbench-bc-checkpoint config"),
        (
            _damage_config('{"format": "someone-elses-model"}'),
            "not a dexbench-bc-checkpoint config .*dexbench train bc",
        ),
        (_with_config(format_version=99), "format_version 99.*upgrade dexbench"),
        (_with_config(obs_dim="many"), "config.json is damaged: obs_dim"),
        (_with_config(model={"chunk": 10, "hidden": 10**9, "layers": 2}), "config.json is damaged: model"),
        (_with_config(arch="transformer"), "config.json is damaged: arch"),
        (lambda d: torch.save(torch.zeros(3), d / "model.pt"), "cannot load .*model.pt .*retrain"),
        (lambda d: (d / "model.pt").write_bytes(b"not a torch file"), "cannot load .*model.pt"),
        (_nan_weights, "model.pt holds NaN"),
    ],
)
def test_a_damaged_checkpoint_is_refused_naming_the_file_and_the_fix(mlp_checkpoint, tmp_path, damage, message):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(mlp_checkpoint, ckpt)
    damage(ckpt)
    with pytest.raises(ValueError, match=message):
        load_checkpoint(ckpt)


def test_a_checkpoint_missing_files_is_refused_saying_which(mlp_checkpoint, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(mlp_checkpoint, ckpt)
    (ckpt / "model.pt").unlink()
    with pytest.raises(FileNotFoundError, match="lacks model.pt"):
        load_checkpoint(ckpt)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="lacks config.json and model.pt"):
        load_checkpoint(tmp_path / "empty")
    # Through the CLI: a one-line error naming the file, exit code 2 (it was a bare JSONDecodeError).
    (ckpt / "model.pt").write_bytes((mlp_checkpoint / "model.pt").read_bytes())
    (ckpt / "config.json").write_text("{")
    assert main(["eval", "--policy", BC, "--checkpoint", str(ckpt), "--env", ENV_ID, "--episodes", "1", "-q"]) == 2
    assert "config.json is not valid JSON" in capsys.readouterr().err


def test_a_checkpoint_for_other_observations_is_refused(mlp_checkpoint, tmp_path):
    def checkpoint_with(name, edit):
        ckpt = tmp_path / name
        shutil.copytree(mlp_checkpoint, ckpt)
        config = json.loads((ckpt / "config.json").read_text())
        edit(config)
        (ckpt / "config.json").write_text(json.dumps(config))
        return ckpt

    unknown_key = checkpoint_with("unknown", lambda c: c.update(obs_keys=["no_such_sensor"]))
    # The env has every key the config names, but they hold fewer numbers than the network reads.
    fewer_keys = checkpoint_with("fewer", lambda c: c.update(obs_keys=c["obs_keys"][:-1]))
    env = make_env("TrayLift", "Panda", "D0")
    try:
        with pytest.raises(ValueError, match="lacks: \\['no_such_sensor'\\]; evaluate it on DexMG/TrayLift"):
            BCPolicy(env.observation_space, env.action_space, checkpoint=unknown_key)
        with pytest.raises(ValueError, match="reads 67 observation numbers .*; this env gives 60"):
            BCPolicy(env.observation_space, env.action_space, checkpoint=fewer_keys)
    finally:
        env.close()


def test_bc_rnn_gmm_keeps_both_modes_of_a_two_way_demo_where_the_l1_lstm_averages_them(demos, tmp_path):
    # Two demos with the same observations, one acting 0.5 above the other in every dimension: a
    # mixture head must act like one of them, a regression head lands between.
    data = load_demo_arrays(demos)
    obs, act = data.obs[0], data.actions[0]
    up, down = act + 0.5, act - 0.5
    two_way = bc_train.DemoArrays([obs, obs], [up, down], data.obs_keys, data.env_id, data.env_kwargs)
    distance = {}
    for modes in (5, 0):
        config = BCConfig(arch="rnn", gmm_modes=modes, steps=400, hidden=32, layers=1, batch_size=16, lr=3e-3)
        out = tmp_path / f"gmm{modes}"
        report = train_bc(two_way, out, config, progress=False)
        assert np.isfinite(report.final_train_loss)
        model, saved, _ = load_checkpoint(out)
        assert saved["model"] == ({"hidden": 32, "layers": 1, "modes": 5} if modes else {"hidden": 32, "layers": 1})
        with torch.no_grad():
            x = model.obs_norm.normalize(torch.as_tensor(obs[None, :10], dtype=torch.float32))
            acted = model.act_norm.denormalize(model(x)[0])[0].numpy()
            assert np.array_equal(acted, model.act_norm.denormalize(model(x)[0])[0].numpy())  # no sampling
        distance[modes] = [float(np.abs(acted - demo[:10]).mean()) for demo in (up, down)]
    assert min(distance[5]) < 0.2, distance  # one of the two demos' actions
    assert min(distance[0]) > 0.3, distance  # between them
    with pytest.raises(ValueError, match="gmm_modes .* rnn architecture"):
        BCConfig(gmm_modes=5)
