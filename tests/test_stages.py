"""Stage reuse, decided in one place (`dexbench.stages`): a stage's output is reused only when every
setting recorded beside it matches (inputs' content, generator and full config, env kwargs, seeds,
counts, suite version); any change makes it run again; where running again would destroy work the
user did not ask to redo (a resume), the error names each differing setting and the fix."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import h5py
import pytest

from dexbench import stages
from dexbench.stages import Stage, StageMismatch, differences, digest

ENV_ID = "DexMG/TrayLift-Panda-D0"


def touch_content(path) -> None:
    """Change a dataset's content (not its demos) at the same path."""
    with h5py.File(path, "a") as f:
        f.attrs["touched"] = f.attrs.get("touched", 0) + 1


@pytest.fixture
def sources(panda_tray_demos, tmp_path):
    path = tmp_path / "sources.hdf5"
    shutil.copy(panda_tray_demos, path)
    return path


# ----------------------------------------------------------------------------- the record itself
def test_an_input_is_hashed_by_its_content_not_its_path_or_time(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"demo" * 1000)
    b.write_bytes(b"demo" * 1000)
    assert digest(a) == digest(b)
    before = digest(a)
    a.write_bytes(b"demO" * 1000)  # same path, same size, other content
    assert digest(a) != before
    folder = tmp_path / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"weights")
    (folder / "sub" / "x.json").write_text("{}")
    (folder / "link").symlink_to(a)  # links are no part of a folder's content
    first = digest(folder)
    assert digest(folder, files=["model.pt"]) != first
    (folder / "sub" / "x.json").write_text("{ }")
    assert digest(folder) != first
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        digest(fifo)  # never blocks reading a pipe


def test_a_stage_is_done_only_when_finished_with_every_setting_the_same(tmp_path):
    out = tmp_path / "out.hdf5"
    settings = {"seed": 0, "n": 2, "config": {"noise": 0.05, "budgets": (2, 2)}}
    stage = Stage(out, settings)
    assert stage.record == tmp_path / "out.hdf5.stage.json"
    assert not stage.done()  # nothing there
    stage.begin()
    out.write_text("x")
    assert not stage.done() and stage.differences() == ["its last run did not finish"]
    stage.finish()
    assert stage.done() and Stage(out, json.loads(json.dumps(settings))).done()  # tuples are recorded as lists
    changed = Stage(out, {**settings, "config": {"noise": 0.1, "budgets": (2, 2)}, "seed": 1})
    assert changed.differences() == ["seed: 0 there, 1 now", "config.noise: 0.05 there, 0.1 now"]
    assert Stage(out, {**settings, "workers": 2}).differences() == ["workers: (not recorded) there, 2 now"]
    out.unlink()
    assert not stage.done()


def test_a_refusal_names_each_differing_setting_and_the_fix():
    with pytest.raises(StageMismatch) as err:
        stages.check_same(
            {"seed": 0, "config": {"a": 1, "b": 2}},
            {"seed": 1, "config": {"a": 1, "b": 3}},
            "cannot resume from x",
            "Pass --overwrite to start over",
        )
    assert str(err.value) == (
        "cannot resume from x (seed: 0 there, 1 now; config.b: 2 there, 3 now). Pass --overwrite to start over"
    )
    assert differences(None, {"seed": 0}) == ["no record of the settings that made it"]


# ----------------------------------------------------------------------------- compare
class Calls:
    """Counts the stages compare runs (generation and training for real, evaluation stubbed)."""

    def __init__(self, monkeypatch) -> None:
        import dexbench.generators.runner as runner
        import dexbench.pipelines.compare as compare
        import dexbench.policies.bc.train as train

        self.log: list[tuple[str, str]] = []
        real_generate, real_train = runner.run_generation, train.train_bc

        def generate(generator, env_id, source, n, out, **kwargs):
            self.log.append(("generate", os.path.basename(out)))
            return real_generate(generator, env_id, source, n, out, **kwargs)

        def train_bc(data, out, config, **kwargs):
            self.log.append(("train", os.path.basename(out)))
            return real_train(data, out, config, **kwargs)

        def evaluate(policy, env_id, episodes, workers, policy_kwargs, env_kwargs, progress, backend):
            self.log.append(("evaluate", os.path.basename(policy_kwargs["checkpoint"])))
            return {
                "env_id": env_id,
                "num_episodes": episodes,
                "success_rate": 0.0,
                "ci95": [0.0, 1.0],
                "env_kwargs": env_kwargs,
            }

        monkeypatch.setattr(runner, "run_generation", generate)
        monkeypatch.setattr(train, "train_bc", train_bc)
        monkeypatch.setattr(compare, "evaluate", evaluate)

    def take(self) -> list[tuple[str, str]]:
        log, self.log = sorted(self.log), []
        return log


def set_default(monkeypatch, config_cls, **defaults) -> None:
    """Change a generator Config's defaults, as a new DexBench version would."""
    fields = [f for f in dataclasses.fields(config_cls) if f.init]
    monkeypatch.setattr(config_cls.__init__, "__defaults__", tuple(defaults.get(f.name, f.default) for f in fields))


def test_compare_reruns_exactly_the_stages_whose_recorded_settings_changed(sources, tmp_path, monkeypatch):
    from dexbench.generators.demo_noise import DemoNoiseConfig
    from dexbench.pipelines.compare import compare_generators
    from dexbench.policies.bc.train import BCConfig

    set_default(monkeypatch, DemoNoiseConfig, noise_scale=0.005)  # nearly exact replays: fast successes
    calls = Calls(monkeypatch)
    work = tmp_path / "work"
    config = BCConfig(steps=4, hidden=8, layers=1, batch_size=8)

    def run(n=1, seed=0, objects="reference", workers=1):
        compare_generators(
            ENV_ID,
            sources,
            ["demo_noise"],
            n,
            work,
            episodes=1,
            seed=seed,
            workers=workers,
            train_config=config,
            objects=objects,
            progress=False,
        )
        return calls.take()

    gen, train_noise, train_source = ("generate", "demo_noise.hdf5"), ("train", "bc_demo_noise"), ("train", "bc_source")
    ev_noise, ev_source = ("evaluate", "bc_demo_noise"), ("evaluate", "bc_source")
    assert run() == sorted([gen, train_noise, train_source, ev_noise, ev_source])
    record = json.loads((work / "demo_noise.hdf5.stage.json").read_text())
    assert record["complete"] and record["settings"]["inputs"]["source"] == digest(sources)
    assert record["settings"]["config"] == dataclasses.asdict(DemoNoiseConfig())  # the full config, not the overrides
    assert run() == []  # nothing changed: nothing runs
    assert run(workers=2) == []  # nor on other workers: they change no dataset, checkpoint or result

    assert run(seed=1) == sorted([gen, train_noise, ev_noise])  # new data: its policy is trained and tested again
    assert run(n=2, seed=1) == sorted([gen, train_noise, ev_noise])
    touch_content(sources)  # the sources rewritten at the same path
    # The data made again holds the same demos, so the policies trained on it are the same bits and
    # their evaluations (recorded by the checkpoint's content) stay valid.
    assert run(n=2, seed=1) == sorted([gen, train_noise, train_source])
    set_default(monkeypatch, DemoNoiseConfig, noise_scale=0.01)  # a generator default changed
    assert run(n=2, seed=1) == sorted([gen, train_noise, ev_noise])
    assert json.loads((work / "demo_noise.report.json").read_text())["config"]["noise_scale"] == 0.01
    assert run(n=2, seed=1, objects="random") == sorted([ev_noise, ev_source])  # the evaluation's env kwargs
    assert run(n=2, seed=1, objects="random") == []


# ----------------------------------------------------------------------------- the flywheel's stages
def test_a_flywheel_generation_stage_reruns_when_any_recorded_setting_changes(sources, tmp_path):
    from dexbench.generators.flywheel.stages import _generate

    out = tmp_path / "iter1" / "data.hdf5"
    base = {
        "source": sources,
        "n": 1,
        "seed": 0,
        "config": None,
        "env_kwargs": {"horizon": 300},
        "run": {"config": {"rollouts": 2}},
    }

    def stage(**changes):
        s = {**base, **changes}
        report, ran = _generate(
            "test",
            "mimicgen",
            ENV_ID,
            s["source"],
            s["n"],
            out,
            s["seed"],
            1,
            False,
            s["run"],
            config=s["config"],
            env_kwargs=s["env_kwargs"],
        )
        assert report["requested"] == s["n"]
        return ran

    assert stage() and not stage()
    touch_content(sources)
    assert stage() and not stage()
    for change in (
        {"config": {"action_noise": 0.04}},
        {"env_kwargs": {"horizon": 400}},
        {"seed": 1},
        {"n": 2},
        {"run": {"config": {"rollouts": 3}}},
    ):
        base.update(change)
        assert stage(), change
        assert not stage(), change


def test_a_flywheel_base_and_its_kept_rollouts_rerun_when_their_inputs_change(sources, tmp_path):
    from dexbench.generators.flywheel.stages import _keep, train_base

    out = tmp_path / "bc"
    assert train_base([sources], out, 3, 0, False, run={"seed": 0})[1]
    assert not train_base([sources], out, 3, 0, False, run={"seed": 0})[1]
    assert train_base([sources], out, 3, 1, False, run={"seed": 0})[1]  # its seed
    assert train_base([sources], out, 4, 1, False, run={"seed": 0})[1]  # its steps
    assert train_base([sources], out, 4, 1, False, run={"seed": 1})[1]  # the run's settings
    touch_content(sources)
    assert train_base([sources], out, 4, 1, False, run={"seed": 1})[1]  # its data's content
    assert not train_base([sources], out, 4, 1, False, run={"seed": 1})[1]

    kept = tmp_path / "kept.hdf5"
    env_kwargs = {"horizon": 300}
    _keep([sources], kept, ENV_ID, env_kwargs, 2)
    made = kept.stat().st_mtime_ns
    _keep([sources], kept, ENV_ID, env_kwargs, 2)
    assert kept.stat().st_mtime_ns == made
    touch_content(sources)
    _keep([sources], kept, ENV_ID, env_kwargs, 2)
    assert kept.stat().st_mtime_ns != made


# ----------------------------------------------------------------------------- refusals
def test_resuming_a_generation_with_other_settings_names_each_difference_and_touches_nothing(sources, tmp_path):
    from dexbench.generators.runner import run_generation

    out = tmp_path / "gen.hdf5"
    run_generation("demo_noise", ENV_ID, sources, 1, out, seed=0, config={"noise_scale": "0"}, progress=False)
    made = out.stat().st_mtime_ns
    with pytest.raises(
        StageMismatch,
        match=r"cannot resume from .*gen\.hdf5: it was made with other settings "
        r"\(seed: 0 there, 1 now\)\. .*--overwrite",
    ):
        run_generation(
            "demo_noise", ENV_ID, sources, 2, out, seed=1, config={"noise_scale": "0"}, progress=False, resume=True
        )
    touch_content(sources)
    with pytest.raises(
        StageMismatch,
        match=r"\(config\.noise_scale: 0\.0 there, 0\.1 now; "
        r"source_sha256: '[0-9a-f]{64}' there, '[0-9a-f]{64}' now\)",
    ):
        run_generation(
            "demo_noise", ENV_ID, sources, 2, out, seed=0, config={"noise_scale": "0.1"}, progress=False, resume=True
        )
    assert out.stat().st_mtime_ns == made and not list(tmp_path.glob("gen.hdf5.shard*"))


def test_a_render_obs_work_folder_of_other_settings_is_refused_naming_them(panda_tray_demos, tmp_path, monkeypatch):
    from dexbench.pipelines import render_obs as render_obs_module
    from dexbench.pipelines.render_obs import render_obs, workdir_of

    def killed(self, key):
        raise KeyboardInterrupt  # stands in for a kill before the first demo is done

    monkeypatch.setattr(render_obs_module._DemoRenderer, "render_demo", killed)
    out = tmp_path / "images.hdf5"
    with pytest.raises(KeyboardInterrupt):
        render_obs(panda_tray_demos, ["agentview"], 16, out=out)
    with pytest.raises(
        FileExistsError,
        match=r"unfinished render-obs run with other settings .*\(size: 16 there, "
        r"20 now\)\. .*--overwrite",
    ):
        render_obs(panda_tray_demos, ["agentview"], 20, out=out)
    assert workdir_of(out).is_dir()
