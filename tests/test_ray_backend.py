"""The Ray backend (`--backend ray`): the same datasets, results and images as the process
backend for the same seeds, against a local Ray started here; a hanging policy still ends with a
PolicyFailure; a failed run resumes; a missing Ray or an unreachable cluster is a clear error."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from dexbench.backends import Backend, BackendError, connect_ray
from dexbench.cli import main
from dexbench.evaluation import evaluate
from dexbench.evaluation.sandbox import PolicyFailure
from dexbench.generators.runner import OutputPaths, run_generation
from dexbench.generators.scripted.generator import ScriptedGenerator

ray = pytest.importorskip("ray")

ENV_ID = "DexMG/TrayLift-Panda-D0"
RAY = Backend("ray")
FAIL_FLAG = "DEXBENCH_TEST_FAIL_FLAG"  # a file: while it exists, FlakyScripted fails its second attempt


@pytest.fixture(scope="module", autouse=True)
def local_ray(tmp_path_factory):
    """One local Ray for the module. Its workers import this module (the policies and the
    generator below) through PYTHONPATH, which they inherit from this process."""
    flag = tmp_path_factory.mktemp("flag") / "fail"
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", FAIL_FLAG)}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    os.environ[FAIL_FLAG] = str(flag)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield flag
    ray.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


class HangingPolicy:
    """Never returns from its third act()."""

    def __init__(self, observation_space, action_space) -> None:
        self.shape, self.t = action_space.shape, 0

    def reset(self, seed=None) -> None:
        self.t = 0

    def act(self, obs):
        self.t += 1
        if self.t == 3:
            time.sleep(3600)
        return np.zeros(self.shape)


class FlakyScripted(ScriptedGenerator):
    """The scripted generator (same name, so a run resumes with it) whose second attempt in a
    worker raises while the flag file exists."""

    def policy(self, env, rng):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 2 and Path(os.environ[FAIL_FLAG]).exists():
            raise RuntimeError("flaky generator")
        return super().policy(env, rng)


def contents(path, record: bool = True) -> dict:
    """Every dataset and attribute of an HDF5 file, without the run's CPU times (and without
    the run record, which names the workers, unless `record`)."""
    found = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                found[name] = obj[()]
            for key, value in obj.attrs.items():
                if key == "generation" and not record:
                    continue
                if key == "generation":  # the run record: worker CPU seconds differ from run to run
                    value = json.loads(value)
                    for state in value.get("worker_states", [value]):
                        state.pop("cpu_s", None)
                found[f"{name}@{key}"] = value

        f.visititems(visit)
        for key, value in f.attrs.items():
            found[f"@{key}"] = value
    return found


def same_contents(a, b, record: bool = True) -> bool:
    x, y = contents(a, record), contents(b, record)
    return x.keys() == y.keys() and all(
        np.array_equal(np.asarray(x[k]), np.asarray(y[k])) if not isinstance(x[k], dict) else x[k] == y[k] for k in x
    )


@pytest.fixture(scope="module")
def process_demos(tmp_path_factory):
    path = tmp_path_factory.mktemp("process") / "demos.hdf5"
    assert run_generation("scripted", ENV_ID, None, 3, path, seed=1, workers=2, progress=False).successes == 3
    return path


def test_generate_under_ray_makes_the_process_backends_dataset(process_demos, tmp_path, capsys):
    out = tmp_path / "ray.hdf5"
    assert (
        main(
            [
                "generate",
                "--generator",
                "scripted",
                "--env",
                ENV_ID,
                "-n",
                "3",
                "--seed",
                "1",
                "--workers",
                "2",
                "--out",
                str(out),
                "--backend",
                "ray",
                "-q",
            ]
        )
        == 0
    )
    assert same_contents(process_demos, out)
    assert not OutputPaths(out).leftovers()
    # A finished run extended under Ray (its shards travel to the tasks and back) is the direct run.
    part = tmp_path / "part.hdf5"
    run_generation("scripted", ENV_ID, None, 2, part, seed=1, workers=2, progress=False, backend=RAY)
    run_generation("scripted", ENV_ID, None, 3, part, seed=1, workers=2, progress=False, backend=RAY, resume=True)
    assert same_contents(process_demos, part)
    # Three Ray tasks make the dataset two processes made.
    three = tmp_path / "three.hdf5"
    run_generation("scripted", ENV_ID, None, 3, three, seed=1, workers=3, progress=False, backend=RAY)
    assert same_contents(process_demos, three, record=False)


def test_ray_tasks_get_the_source_demos_with_the_task(panda_tray_demos, tmp_path):
    runs = {}
    for backend in (Backend(), RAY):
        runs[backend.name] = tmp_path / f"{backend.name}.hdf5"
        report = run_generation(
            "demo_noise",
            ENV_ID,
            panda_tray_demos,
            2,
            runs[backend.name],
            seed=3,
            workers=2,
            progress=False,
            backend=backend,
        )
        assert report.successes == 2
    assert same_contents(runs["process"], runs["ray"])


def test_a_failing_ray_worker_keeps_the_shards_and_the_run_resumes(local_ray, process_demos, tmp_path):
    from dexbench.generators.progress import GenerationError

    out = tmp_path / "flaky.hdf5"
    local_ray.write_text("fail")
    with pytest.raises(GenerationError, match="flaky generator.*--resume|flaky generator(.|\n)*resume"):
        run_generation(FlakyScripted, ENV_ID, None, 3, out, seed=1, workers=2, progress=False, backend=RAY)
    local_ray.unlink()
    kept = OutputPaths(out).leftovers()
    assert kept and not out.exists()
    with h5py.File(next(p for p in kept if "shard0" in p.name), "r") as f:
        assert len(f["data"]) >= 1  # the demo worker 0 made before its failure came back from its task
    run_generation("scripted", ENV_ID, None, 3, out, seed=1, workers=2, progress=False, backend=RAY, resume=True)
    assert same_contents(process_demos, out) and not OutputPaths(out).leftovers()


def test_eval_under_ray_gives_the_process_backends_result(tmp_path):
    process = evaluate("dexbench.policies:ScriptedPolicy", ENV_ID, episodes=2, workers=2, progress=False)
    out = tmp_path / "ray.json"
    assert (
        main(
            [
                "eval",
                "--policy",
                "dexbench.policies:ScriptedPolicy",
                "--env",
                ENV_ID,
                "--episodes",
                "2",
                "--workers",
                "2",
                "--backend",
                "ray",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    varying = {"wall_time_s", "workers", "created", "host"}
    assert {k: v for k, v in result.items() if k not in varying} == json.loads(
        json.dumps({k: v for k, v in process.items() if k not in varying})
    )
    assert result["successes"] == 2


def test_a_hanging_policy_under_ray_ends_with_a_policy_failure():
    start = time.monotonic()
    with pytest.raises(
        PolicyFailure,
        match=r"HangingPolicy did not return from act\(\) within 3 s at seed \d+, "
        r"step 2",
    ):
        evaluate(
            f"{__name__}:HangingPolicy",
            "DexMG/Pouring-Panda-D0",
            episodes=2,
            workers=2,
            step_timeout_s=3,
            progress=False,
            backend=RAY,
        )
    assert time.monotonic() - start < 60


def test_render_obs_under_ray_writes_the_process_backends_file(process_demos, tmp_path):
    args = [
        "dataset",
        "render-obs",
        str(process_demos),
        "--cameras",
        "agentview,right_wrist",
        "--size",
        "16",
        "--workers",
        "2",
        "-q",
    ]
    assert main([*args, "--out", str(tmp_path / "process.hdf5")]) == 0
    assert main([*args, "--out", str(tmp_path / "ray.hdf5"), "--backend", "ray"]) == 0
    assert (tmp_path / "process.hdf5").read_bytes() == (tmp_path / "ray.hdf5").read_bytes()


def test_compare_passes_the_backend_to_generation_and_evaluation(panda_tray_demos, tmp_path, monkeypatch):
    import dexbench.generators.runner as runner
    import dexbench.pipelines.compare as compare

    seen = []

    def record(*args, backend, **kwargs):
        seen.append(backend)
        raise KeyboardInterrupt  # enough: the stage got the backend

    monkeypatch.setattr(runner, "run_generation", record)
    monkeypatch.setattr(compare, "evaluate", record)
    with pytest.raises(KeyboardInterrupt):
        compare.compare_generators(
            ENV_ID,
            panda_tray_demos,
            ["demo_noise"],
            1,
            tmp_path / "gen",
            include_source=False,
            progress=False,
            backend=RAY,
        )
    from dexbench.policies.bc.train import BCConfig

    with pytest.raises(KeyboardInterrupt):
        compare.compare_generators(
            ENV_ID,
            panda_tray_demos,
            [],
            1,
            tmp_path / "eval",
            episodes=1,
            progress=False,
            train_config=BCConfig(steps=2, hidden=8, layers=1, batch_size=8),
            backend=RAY,
        )
    assert seen == [RAY, RAY]


def test_a_missing_ray_or_an_unreachable_cluster_is_a_clear_error(monkeypatch, capsys, tmp_path):
    out = str(tmp_path / "x.hdf5")
    generate = ["generate", "--generator", "scripted", "--env", ENV_ID, "-n", "1", "--out", out]
    assert main([*generate, "--address", "127.0.0.1:6379"]) == 2
    assert "--backend ray" in capsys.readouterr().err
    ray.shutdown()  # an address is only looked at when this process is not connected yet
    try:
        assert main([*generate, "--backend", "ray", "--address", "127.0.0.1:1"]) == 2
        err = capsys.readouterr().err
        assert "no Ray cluster answers at 127.0.0.1:1" in err and "ray start --head" in err and "Traceback" not in err
        monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
        with pytest.raises(BackendError, match=r"pip install 'dexbench\[ray\]'"):
            connect_ray()
        assert main([*generate, "--backend", "ray"]) == 2
        assert "pip install 'dexbench[ray]'" in capsys.readouterr().err
    finally:
        monkeypatch.undo()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    assert not Path(out).exists()


@pytest.mark.parametrize("reply", [None, b"HTTP/1.1 400 Bad Request\r\n\r\n"])
def test_an_address_where_something_else_listens_fails_fast(capsys, tmp_path, reply):
    """A plain TCP listener (or a web server) at --address: ray.init would wait for minutes."""
    import socket
    import threading
    import time

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    held = []

    def serve():
        conn, _ = server.accept()
        held.append(conn)  # kept open, never answered (or answered in HTTP/1.1)
        if reply is not None:
            conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    out = str(tmp_path / "x.hdf5")
    ray.shutdown()
    try:
        start = time.monotonic()
        code = main(
            [
                "generate",
                "--generator",
                "scripted",
                "--env",
                ENV_ID,
                "-n",
                "1",
                "--out",
                out,
                "--backend",
                "ray",
                "--address",
                f"127.0.0.1:{port}",
            ]
        )
        assert code == 2 and time.monotonic() - start < 30
        err = capsys.readouterr().err
        assert f"something listens at 127.0.0.1:{port} but it is not a Ray cluster" in err, err
        assert ("no reply" if reply is None else "not HTTP/2") in err and "Traceback" not in err
    finally:
        for conn in held:
            conn.close()
        server.close()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    assert not Path(out).exists()


def test_the_handshake_check_accepts_a_real_ray_head():
    from dexbench.backends import _check_reachable

    _check_reachable(ray.get_runtime_context().gcs_address)  # the module's local Ray
