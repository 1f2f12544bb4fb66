"""Submissions that lie in ways the first checks missed: a horizon of their own choosing (the
env's is what counts), names that pass for another row's with look-alike letters (Cyrillic or
Greek letters drawn like Latin ones, mixed scripts, 0/O and 1/l, zero-width characters), and
tiny positive floats (denormals) in any number field, which must be refused or accepted, never
crash validate or build."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from test_leaderboards import NATIVE, episodes, eval_result, generator_submission, policy_submission, write

from dexbench.leaderboards import SubmissionError, build_leaderboards, validate_submission
from dexbench.leaderboards.names import name_key

TRAYLIFT_HORIZON = 750  # steps, TrayLift's registered horizon


def refused(obj_or_path, *expected: str) -> str:
    with pytest.raises(SubmissionError) as err:
        validate_submission(obj_or_path)
    message = str(err.value)
    assert "\n" not in message, message
    for text in expected:
        assert text in message, message
    return message


# ----------------------------------------------------------------------------- the env's horizon
def test_a_result_cannot_choose_its_own_horizon():
    result = eval_result(NATIVE, episodes(50))
    result["horizon"] = 10**6
    result["episodes"][0]["length"] = 5000  # within the claimed horizon, over the env's
    refused(
        policy_submission(results=[result]),
        "results[0].horizon: 1000000",
        f"{NATIVE} has a horizon of {TRAYLIFT_HORIZON} steps",
    )


def test_episode_lengths_are_checked_against_the_envs_horizon():
    result = eval_result(NATIVE, episodes(50))
    result["episodes"][3]["length"] = TRAYLIFT_HORIZON + 1
    refused(
        policy_submission(results=[result]),
        "results[0].episodes[3].length: 751 steps",
        f"over the horizon of 750 steps of {NATIVE}",
    )


def test_an_env_made_with_another_horizon_says_so_in_its_env_kwargs():
    result = eval_result(NATIVE, episodes(50))
    result["env_kwargs"] = {"horizon": 1000}
    result["horizon"] = 1000
    result["episodes"][0]["length"] = 900
    validate_submission(policy_submission(results=[result]))  # valid, shown unranked
    result["horizon"] = 2000
    refused(policy_submission(results=[result]), "the env made with these env_kwargs has a horizon of 1000")
    result["horizon"], result["episodes"][0]["length"] = 1000, 1001
    refused(policy_submission(results=[result]), "episodes[0].length: 1001 steps")


@pytest.mark.parametrize("horizon", [True, 0, 5e-324, 1.5, "750"])
def test_an_env_kwargs_horizon_no_env_accepts_is_refused(horizon):
    result = eval_result(NATIVE, episodes(50))
    result["env_kwargs"] = {"horizon": horizon}
    refused(policy_submission(results=[result]), "results[0].env_kwargs.horizon: not a whole number")


def test_generator_downstream_results_use_the_envs_horizon_too():
    sub = generator_submission()
    sub["results"][0]["downstream"]["eval"]["horizon"] = 99
    refused(sub, "results[0].downstream.eval.horizon: 99")


# ----------------------------------------------------------------------------- look-alike names
@pytest.mark.parametrize(
    "imitation",
    [
        "BC-MLP (mimicg\u0435n 200)",  # Cyrillic е
        "BC-MLP (\u0430\u0441\u0435)",  # a whole Cyrillic word, tested as a skeleton below
        "B\u0421-MLP (mimicgen 200)",  # Cyrillic С in BC
        "BC-MLP (m\u03b9micgen 200)",  # Greek iota
    ],
)
def test_a_word_mixing_latin_with_a_look_alike_script_is_refused(imitation):
    if "\u0430\u0441\u0435" in imitation:  # one script in each word: not mixed
        validate_submission(policy_submission(imitation))
        return
    refused(policy_submission(imitation), "name: the word", "mixes", "Write each word in one script")


@pytest.mark.parametrize("name", ["Rückwärts 机器人", "ロボットの方策", "Робот-ИИ", "Ελληνικά BC", "β-VAE policy"])
def test_names_in_one_script_per_word_pass(name):
    validate_submission(policy_submission(name))


@pytest.mark.parametrize(
    "a, b",
    [
        ("ace", "\u0430\u0441\u0435"),  # Latin vs all-Cyrillic
        ("BC-MLP v1", "BC-MLP vl"),
        ("BC-MLP v1", "bc-mlp VI"),
        ("Model O", "Model 0"),
        ("rn-policy", "m-policy"),
        ("BC-MLP", "BC\u2010MLP"),
        ("BC-MLP", "BC\u2212MLP"),
        ("BC MLP", "BC\u00a0 MLP"),
        ("ＢＣ", "BC"),
    ],
)
def test_names_that_look_alike_have_one_key(a, b):
    assert name_key(a) == name_key(b)


def test_validate_and_build_refuse_a_name_that_imitates_a_neighbour(tmp_path):
    root = tmp_path / "leaderboards"
    write(root / "policies" / "ace.json", policy_submission("ace", [eval_result(NATIVE, episodes(45), "a")]))
    imitation = write(
        root / "policies" / "fake.json",
        policy_submission("\u0430\u0441\u0435", [eval_result(NATIVE, episodes(49), "b")]),
    )
    refused(imitation, "is already the name of", "ace.json", "or looks like it")
    with pytest.raises(SubmissionError, match="or looks like it"):
        build_leaderboards(root)


def test_zero_width_characters_are_refused():
    refused(policy_submission("BC-MLP\u200b (mimicgen 200)"), "invisible character U+200B")


# ----------------------------------------------------------------------------- tiny floats
def _number_paths(obj, where=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _number_paths(v, (*where, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:2]):  # the first two episodes stand for the others
            yield from _number_paths(v, (*where, i))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield where


def _set(obj, where, value):
    for part in where[:-1]:
        obj = obj[part]
    obj[where[-1]] = value


@pytest.mark.parametrize("tiny", [5e-324, 2.2250738585072014e-308, 1e-310])
def test_a_tiny_positive_float_anywhere_is_refused_or_published_never_a_crash(tmp_path, tiny):
    for base, folder in ((policy_submission(), "policies"), (generator_submission(), "generators")):
        for where in _number_paths(base):
            sub = copy.deepcopy(base)
            _set(sub, where, tiny)
            try:
                validate_submission(sub)
            except SubmissionError as err:
                assert "\n" not in str(err)
                continue
            root = tmp_path / f"{folder}-{'-'.join(map(str, where))}-{tiny}"
            (root / folder).mkdir(parents=True)
            (root / folder / "x.json").write_text(json.dumps(sub))
            build_leaderboards(root)  # what validate accepts, build publishes


def test_a_denormal_cpu_time_is_refused_naming_cpu_s():
    sub = generator_submission()
    sub["results"][0]["cpu_s"] = 5e-324  # demos / (cpu_s / 60) divided by zero before
    refused(sub, "results[0].cpu_s", "too small to be the CPU time")
    sub["results"][0]["cpu_s"] = 2.2250738585072014e-308  # gave an infinite speed that passed the check
    refused(sub, "results[0].cpu_s")


def test_the_repository_boards_still_validate():
    repo = Path(__file__).resolve().parents[1] / "leaderboards"
    for path in sorted([*repo.glob("policies/*.json"), *repo.glob("generators/*.json")]):
        validate_submission(path)
