"""Evaluation: the policy interface and loader, published seeds, oracle and random bounds,
worker-independence of results, the result JSON and `dexbench eval`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dexbench.cli import main
from dexbench.envs.registry import ENV_TABLE, make_env
from dexbench.evaluation import eval_seeds, evaluate, wilson_interval
from dexbench.evaluation.sandbox import PolicyFailure
from dexbench.leaderboards import validate_submission
from dexbench.policies import PolicyLoadError, load_policy

SCRIPTED = "dexbench.policies:ScriptedPolicy"
RANDOM = "dexbench.policies:RandomPolicy"


class HangingPolicy:
    """Never returns from its third act()."""

    def __init__(self, observation_space, action_space) -> None:
        self.shape, self.t = action_space.shape, 0

    def reset(self, seed=None) -> None:
        self.t = 0

    def act(self, obs):
        self.t += 1
        if self.t == 3:
            import time

            time.sleep(3600)
        return np.zeros(self.shape)


class RaisingPolicy(HangingPolicy):
    def act(self, obs):
        raise KeyError("right_eef_pos_typo")


class CrashingPolicy(HangingPolicy):
    def act(self, obs):
        import os

        os._exit(3)  # as a segfaulting extension would: no exception, no cleanup


class NaNPolicy:
    def __init__(self, observation_space, action_space) -> None:
        self.shape = action_space.shape

    def reset(self) -> None:  # no seed parameter: allowed
        pass

    def act(self, obs):
        return np.full(self.shape, np.nan)


class NoAct:
    def __init__(self, observation_space, action_space) -> None:
        pass

    def reset(self) -> None:
        pass


def test_published_seeds_are_fixed_distinct_and_per_id():
    a = eval_seeds("DexMG/TrayLift-PandaDex-D0", 50)
    assert a == eval_seeds("DexMG/TrayLift-PandaDex-D0", 200)[:50]  # a prefix of one fixed list
    assert len(set(a)) == 50 and all(1_000_000 <= s < 2_000_000 for s in a)
    assert a != eval_seeds("DexMG/Pouring-GR1-D0", 50)
    assert all(len(eval_seeds(env_id, 200)) == 200 for env_id in ENV_TABLE)
    with pytest.raises(ValueError, match="--seeds"):
        eval_seeds("DexMG/TrayLift-PandaDex-D0", 201)


def test_wilson_interval():
    lo, hi = wilson_interval(0, 50)
    assert lo == 0.0 and 0.06 < hi < 0.08  # a 0/50 result still leaves room up to ~7 %
    lo, hi = wilson_interval(45, 50)
    assert lo < 0.9 < hi < 1.0


def test_loader_names_the_problem():
    env = make_env("TrayLift", "Panda", "D0")
    try:
        with pytest.raises(PolicyLoadError, match="MODULE:ATTRIBUTE"):
            load_policy("dexbench.policies.ScriptedPolicy", env)
        with pytest.raises(PolicyLoadError, match="no attribute 'Nope'.*RandomPolicy"):
            load_policy("dexbench.policies:Nope", env)
        with pytest.raises(PolicyLoadError, match="cannot import module"):
            load_policy("not_a_module_xyz:Policy", env)
        with pytest.raises(PolicyLoadError, match="without act"):
            load_policy(f"{__name__}:NoAct", env)
        # The oracle gets the env (it declares `env`); a plain policy only the spaces.
        assert load_policy(SCRIPTED, env).env is env
    finally:
        env.close()


class NeedsTemperature(HangingPolicy):
    def __init__(self, observation_space, action_space, temperature, env=None) -> None:
        super().__init__(observation_space, action_space)


def test_a_missing_policy_argument_names_its_flag_before_any_work(capsys):
    env_id = "DexMG/TrayLift-PandaDex-D0"
    assert main(["eval", "--policy", "dexbench.policies:BCPolicy", "--env", env_id, "--episodes", "2"]) == 2
    err = capsys.readouterr().err
    assert "needs checkpoint: pass --checkpoint DIR" in err
    assert "ep/s" not in err and "Traceback" not in err and "TypeError" not in err  # no progress bar started
    with pytest.raises(PolicyLoadError, match="needs temperature: pass --policy-arg temperature=VALUE"):
        evaluate(f"{__name__}:NeedsTemperature", env_id, episodes=1, progress=False)


def test_oracle_succeeds_random_fails_and_workers_do_not_change_results():
    env_id = "DexMG/TrayLift-Panda-D0"
    one = evaluate(SCRIPTED, env_id, episodes=2, progress=False)
    two = evaluate(SCRIPTED, env_id, episodes=2, workers=2, progress=False)
    assert one["successes"] == 2
    assert one["episodes"] == two["episodes"]  # same seeds, same lengths, whatever the worker split
    rand = evaluate(RANDOM, env_id, episodes=1, env_kwargs={"horizon": 100}, progress=False)
    assert rand["successes"] == 0 and rand["episodes"][0]["length"] == 100


def test_result_carries_metadata_and_is_a_valid_submission(tmp_path, capsys):
    out = tmp_path / "result.json"
    assert (
        main(
            [
                "eval",
                "--policy",
                SCRIPTED,
                "--env",
                "DexMG/Pouring-Panda-D0",
                "--episodes",
                "1",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["suite_version"] and result["env_id"] == "DexMG/Pouring-Panda-D0"
    assert result["seeds"] == {"source": "published", "values": eval_seeds("DexMG/Pouring-Panda-D0", 1)}
    assert result["policy"]["name"] == "scripted-oracle"
    ep = result["episodes"][0]
    assert ep["success"] and result["success_rate"] == 1.0 and ep["length"] < result["horizon"]
    assert "success" in capsys.readouterr().out
    submission = {
        "format": "dexbench-policy-submission",
        "format_version": 1,
        "name": "oracle",
        "authors": "tests",
        "description": "scripted oracle",
        "results": [result],
    }
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(submission))
    assert validate_submission(path) == "policy"


def test_custom_seeds_and_bad_actions(tmp_path, capsys):
    result = evaluate(RANDOM, "DexMG/Pouring-Panda-D0", seeds=[3, 4], env_kwargs={"horizon": 5}, progress=False)
    assert result["seeds"] == {"source": "custom", "values": [3, 4]}
    with pytest.raises(PolicyFailure, match=r"NaNPolicy|nan.*seed \d+, step 0.*finite"):
        evaluate(f"{__name__}:NaNPolicy", "DexMG/Pouring-Panda-D0", episodes=1, progress=False)
    assert main(["eval", "--policy", RANDOM, "--env", "DexMG/Pouring-Panda-D0", "--seeds", "1,x"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err


def test_video_of_the_first_rollouts(tmp_path):
    import imageio.v2 as imageio

    result = evaluate(
        RANDOM,
        "DexMG/Pouring-Panda-D0",
        episodes=2,
        env_kwargs={"horizon": 6},
        video_dir=tmp_path,
        videos=1,
        progress=False,
    )
    assert len(result["videos"]) == 1  # only the first rollout is filmed
    frames = imageio.mimread(result["videos"][0])
    assert len(frames) == 7 and frames[0].ndim == 3  # the reset frame plus one per step


@pytest.mark.parametrize(
    "policy,message",
    [
        ("HangingPolicy", r"did not return from act\(\) within 3 s at seed \d+, step 2"),
        ("RaisingPolicy", r"failed at seed \d+, step 0: act\(\) raised KeyError: 'right_eef_pos_typo'"),
        ("CrashingPolicy", r"died \(exit code 3\) at seed \d+, step 0"),
    ],
)
def test_a_hanging_raising_or_crashing_policy_ends_the_evaluation_with_a_clear_error(policy, message, capsys, tmp_path):
    import time

    start = time.monotonic()
    with pytest.raises(PolicyFailure, match=message):
        evaluate(
            f"{__name__}:{policy}", "DexMG/Pouring-Panda-D0", episodes=2, workers=2, step_timeout_s=3, progress=False
        )
    assert time.monotonic() - start < 60
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "eval",
                "--policy",
                f"{__name__}:{policy}",
                "--env",
                "DexMG/Pouring-Panda-D0",
                "--episodes",
                "1",
                "--step-timeout",
                "3",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert policy in err and "seed" in err
    assert not out.exists()


def test_an_unwritable_out_is_refused_before_the_evaluation(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    start = __import__("time").monotonic()
    assert (
        main(
            ["eval", "--policy", RANDOM, "--env", "DexMG/Pouring-Panda-D0", "--out", str(blocker / "result.json"), "-q"]
        )
        == 2
    )
    assert "cannot write" in capsys.readouterr().err
    assert __import__("time").monotonic() - start < 5  # refused up front, not after 50 episodes
