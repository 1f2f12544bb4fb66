"""The evaluation sandbox ends what a policy starts: a process the policy forks (a server, a
helper, a stray `sleep`) is killed with its worker when the evaluation ends, normally or on a
timeout."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from dexbench.evaluation import evaluate
from dexbench.evaluation.sandbox import PolicyFailure

ENV_ID = "DexMG/Pouring-Panda-D0"


class ForkingPolicy:
    """Starts a long `sleep` at every reset (its pid written to `pid_file`); `hang` stops at the
    second act()."""

    def __init__(self, observation_space, action_space, pid_file: str = "", hang: str = "", session: str = "") -> None:
        self.shape, self.pid_file, self.hang, self.t = action_space.shape, pid_file, bool(hang), 0
        self.session = bool(session)  # the child starts a session (and process group) of its own

    def reset(self, seed=None) -> None:
        import subprocess

        child = subprocess.Popen(["sleep", "600"], start_new_session=self.session)
        with open(self.pid_file, "a") as f:
            f.write(f"{child.pid}\n")
        self.t = 0

    def act(self, obs):
        self.t += 1
        if self.hang and self.t == 2:
            time.sleep(3600)
        return np.zeros(self.shape)


def alive(pid: int) -> bool:
    """Running, not a zombie (a killed orphan may wait for a PID 1 that never reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def pids(pid_file: Path) -> list[int]:
    return [int(x) for x in pid_file.read_text().split()]


def gone_soon(pid: int, within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
def test_a_process_the_policy_forks_does_not_outlive_the_evaluation(tmp_path):
    pid_file = tmp_path / "pids"
    evaluate(
        f"{__name__}:ForkingPolicy",
        ENV_ID,
        episodes=2,
        workers=1,
        progress=False,
        policy_kwargs={"pid_file": str(pid_file)},
        episode_timeout_s=600,
    )
    started = pids(pid_file)
    assert len(started) == 2
    assert all(gone_soon(pid) for pid in started), [p for p in started if alive(p)]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the process tree is read from /proc")
@pytest.mark.parametrize("hang", ["", "1"], ids=["finished", "timed out"])
def test_a_child_in_a_session_of_its_own_is_killed_too(tmp_path, hang):
    pid_file = tmp_path / "pids"
    try:
        evaluate(
            f"{__name__}:ForkingPolicy",
            ENV_ID,
            episodes=1,
            workers=1,
            progress=False,
            step_timeout_s=3,
            policy_kwargs={"pid_file": str(pid_file), "session": "1", "hang": hang},
        )
    except PolicyFailure:
        assert hang
    assert all(gone_soon(pid) for pid in pids(pid_file))


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
def test_a_timed_out_policys_children_are_killed_too(tmp_path):
    pid_file = tmp_path / "pids"
    with pytest.raises(PolicyFailure, match="did not return from act"):
        evaluate(
            f"{__name__}:ForkingPolicy",
            ENV_ID,
            episodes=1,
            workers=1,
            progress=False,
            step_timeout_s=3,
            policy_kwargs={"pid_file": str(pid_file), "hang": "1"},
        )
    assert all(gone_soon(pid) for pid in pids(pid_file))


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
@pytest.mark.parametrize("session", ["", "1"], ids=["in-the-group", "own-session"])
def test_an_evaluation_killed_with_sigkill_takes_the_policys_children_along(tmp_path, session):
    import signal
    import subprocess
    import sys

    pid_file = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dexbench.cli",
            "eval",
            "--policy",
            "test_eval_sandbox:ForkingPolicy",
            "--env",
            ENV_ID,
            "--episodes",
            "1",
            "--policy-arg",
            f"pid_file={pid_file}",
            "hang=1",
            f"session={session}",
            "--step-timeout",
            "300",
            "-q",
            "--out",
            str(tmp_path / "r.json"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.2)
        started = pids(pid_file)
        assert started and all(alive(pid) for pid in started)
        time.sleep(1.0)  # the guard sees a new descendant within GUARD_POLL_S (process_groups.py)
    finally:
        proc.send_signal(signal.SIGKILL)  # no cleanup of its own runs
        proc.wait()
    assert all(gone_soon(pid) for pid in started), [p for p in started if alive(p)]
