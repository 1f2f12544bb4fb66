"""Checking leaderboard submissions: plain values (bounded integers, finite numbers, one-line
text), the published JSON schema (`schemas/`), then what a schema cannot say (counts that agree
with the episodes and each other, the Wilson interval, the published seeds, a known env id, episode
horizon of the env (not the file's own) and lengths within it, a suite version no newer than this
DexBench, a name without invisible characters or words mixing look-alike scripts, and unlike the
other names once normalised and mapped to its look-alike skeleton), and
finally that the pages render with it: whatever passes here, `build` publishes.

Submissions are untrusted files from pull requests: they are only read as JSON (`reading`), never
executed or unpickled, and every error is one line naming the file, the field path and the fix.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from dexbench.leaderboards.generation_records import record_problem
from dexbench.leaderboards.names import invisible_char, mixed_script_word, name_key
from dexbench.leaderboards.ranking import published_seeds
from dexbench.leaderboards.reading import MAX_INT, SubmissionError, read_json_file, shown
from dexbench.leaderboards.render import render_html, render_markdown
from dexbench.leaderboards.tables import Submission, make_tables

TOLERANCE = 1e-6
WILSON_TOLERANCE = 1e-4  # `dexbench eval` rounds intervals to 4 decimals
# Demos per CPU-minute may be rounded to the boards' one decimal, or be off by a relative 1e-3
# (a CPU time rounded to 0.1 % of itself).
SPEED_TOLERANCE, SPEED_RELATIVE_TOLERANCE = 0.05, 1e-3
FORMATS = {"dexbench-policy-submission": "policy", "dexbench-generator-submission": "generator"}
BOARD_FOLDERS = {"policy": "policies", "generator": "generators"}  # kind -> folder of its submissions
# What a submission file in a board folder may be called (`submit.safe_file_name` makes such names).
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.json")
SCHEMA_FILES = {"policy": "policy_submission.schema.json", "generator": "generator_submission.schema.json"}
EVAL_RESULT_SCHEMA = "eval_result.schema.json"  # referenced by both submission schemas, by its $id
# C0/C1 controls (newline, tab, escape, ...), the Unicode line/paragraph separators and the bidi
# controls: they break table rows or make text display differently from what it holds.
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@cache
def load_schema(kind: str) -> dict[str, Any]:
    """The published JSON schema of a submission kind ("policy" or "generator")."""
    if kind not in SCHEMA_FILES:
        raise ValueError(f"Unknown submission kind {kind!r}; the kinds are {', '.join(SCHEMA_FILES)}.")
    return _read_schema(SCHEMA_FILES[kind])


def _read_schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("dexbench.leaderboards").joinpath("schemas", name).read_text("utf-8"))


@cache
def _validator(kind: str) -> Draft202012Validator:
    """A validator of a submission kind that resolves the shared eval-result schema locally."""
    shared = _read_schema(EVAL_RESULT_SCHEMA)
    registry = Registry().with_resource(shared["$id"], Resource.from_contents(shared))
    return Draft202012Validator(load_schema(kind), registry=registry)


@cache
def schema_fields() -> frozenset[str]:
    """Every field name the schemas define: the only keys an error about a file may quote."""
    names: set[str] = set()
    todo: list[Any] = [_read_schema(f) for f in [*SCHEMA_FILES.values(), EVAL_RESULT_SCHEMA]]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            todo += node.values()
        elif isinstance(node, list):
            todo += node
    return frozenset(names)


# ----------------------------------------------------------------------------- entry points
def read_submission(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object in a submission file (see `reading.read_json_file`)."""
    obj = read_json_file(path, "submission", quotable_keys=schema_fields())
    if not isinstance(obj, dict):
        raise SubmissionError(
            f"{shown(path)}: the top level is a JSON {type(obj).__name__}, not an object. A "
            'submission is one object with "format", "name", "results", ...'
        )
    return obj


def validate_submission(obj_or_path: dict[str, Any] | str | os.PathLike) -> str:
    """Check a submission (a parsed object, or a file to read) and return its kind, "policy" or
    "generator". Raises SubmissionError naming the file, the field path and the fix. A file in a
    board's policies/ or generators/ folder is also checked against its neighbours, as `build`
    checks it."""
    if isinstance(obj_or_path, dict):
        return check_submission(obj_or_path)
    path = Path(obj_or_path)
    data, kind = read_and_check(path)
    if path.parent.name in BOARD_FOLDERS.values():
        _check_name_is_free(path, data, kind)
    return kind


def read_and_check(path: Path) -> tuple[dict[str, Any], str]:
    """A submission file read and checked, with (data, kind); in a board's policies/ or generators/
    folder it must also be of that folder's kind and have a plain file name."""
    data = read_submission(path)
    kind = check_submission(data, shown(path))
    folder_kind = {folder: k for k, folder in BOARD_FOLDERS.items()}.get(path.parent.name)
    if folder_kind is not None and kind != folder_kind:
        raise SubmissionError(
            f"{shown(path)}: format: a {kind} submission in {path.parent.name}/. Move it to {BOARD_FOLDERS[kind]}/."
        )
    if folder_kind is not None and not FILE_NAME.fullmatch(path.name):
        raise SubmissionError(
            f"{shown(path)}: not a plain file name. Rename it to letters, digits, '.', '_' "
            "and '-' (at most 100), ending in .json."
        )
    return data, kind


def _check_name_is_free(path: Path, data: dict[str, Any], kind: str) -> None:
    """No other submission of the folder has this name (unreadable neighbours are their own problem)."""
    for other in sorted(path.parent.glob("*.json")):
        if other.name == path.name:
            continue
        try:
            theirs = read_submission(other)
        except SubmissionError:
            continue
        name = theirs.get("name")
        same_kind = theirs.get("format") == data["format"]
        if same_kind and isinstance(name, str) and name_key(name) == name_key(data["name"]):
            raise SubmissionError(
                f"{shown(path)}: name: {data['name']!r} is already the name of {shown(other)} "
                f"({name[:100]!r}), or looks like it. "
                f"Give each {kind} submission its own name."
            )


# How to turn what other dexbench commands write into a submission.
WRAP_HINTS = {
    "dexbench-eval-result": (
        "this is an evaluation result, not a submission: wrap it with `dexbench leaderboard submit-policy "
        "{file} --name NAME --authors AUTHORS --description TEXT --out leaderboards/policies/NAME.json` "
        "(all your results on one command line), then validate the file it writes"
    ),
    "dexbench-compare": (
        "this is a `dexbench compare` summary, not a submission: turn it into generator submissions with "
        "`dexbench leaderboard submit-generators {file} --authors AUTHORS`, then validate the files it writes"
    ),
}


def check_submission(obj: dict[str, Any], label: str = "submission") -> str:
    """`validate_submission` of an object already read; `label` (the file) starts every error."""
    fmt = obj.get("format")
    fmt = fmt if isinstance(fmt, str) else None
    kind = FORMATS.get(fmt)
    if kind is None:
        if fmt in WRAP_HINTS:
            raise SubmissionError(f"{label}: {WRAP_HINTS[fmt].format(file=shlex.quote(label))}.")
        # The value is not quoted: this may be any JSON file, not a submission.
        raise SubmissionError(
            f"{label}: format: missing or not a submission format. Set it to "
            '"dexbench-policy-submission" (a policy) or "dexbench-generator-submission" '
            "(a demo generator)."
        )
    check_values(obj, label)
    errors = list(_validator(kind).iter_errors(obj))
    if errors:
        raise SubmissionError(_schema_message(label, kind, errors))
    _check_semantics(obj, kind, label)
    _check_renders(obj, kind, label)
    return kind


# ----------------------------------------------------------------------------- plain values
def check_values(obj: Any, label: str) -> None:
    """Every integer within +-MAX_INT, every number finite, no control character in any string or
    key. Values are not quoted in the errors: they may be huge or break the line."""
    todo: list[tuple[list[str | int], Any]] = [([], obj)]  # iterative: nesting depth is the file's choice
    while todo:
        where, value = todo.pop()
        problem = fix = ""
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or CONTROL_CHARS.search(key):
                    problem, fix = "a key is not one line of text", "Remove its control characters."
                    break
                todo.append((where + [key], item))
        elif isinstance(value, list):
            todo += [(where + [i], item) for i, item in enumerate(value)]
        elif isinstance(value, str):
            bad = CONTROL_CHARS.search(value)
            if bad:
                problem = f"holds the control character U+{ord(bad.group()):04X}"
                fix = "Remove it: text fields are one line of plain text (a URL, a name, a description)."
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int) and abs(value) > MAX_INT:
            problem, fix = f"an integer of {len(str(abs(value)))} digits, out of range", f"Give at most {MAX_INT:.0e}."
        elif isinstance(value, float) and not math.isfinite(value):
            problem = "not a finite number"
            fix = "Give a finite number (JSON has no NaN or Infinity, and a literal like 1e999 overflows)."
        if problem:
            raise SubmissionError(f"{label}: {field_path(where)}: {problem}. {fix}")


def _check_renders(obj: dict[str, Any], kind: str, label: str) -> None:
    """Render the pages with this submission alone, so that a file that validates cannot break a
    later build."""
    tables = make_tables([Submission(f"{BOARD_FOLDERS[kind]}/{kind}.json", kind, obj)])
    try:
        render_markdown(tables)
        render_html(tables)
    except Exception as err:  # a renderer bug must surface here, as one line, not in the build
        raise SubmissionError(
            f"{label}: the leaderboard pages cannot be built with it ({type(err).__name__}: "
            f"{err}). Please report this DexBench bug with the file."
        ) from err


# ----------------------------------------------------------------------------- schema errors
def field_path(parts: Sequence[str | int]) -> str:
    """`results[0].success_rate` for the path ("results", 0, "success_rate")."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error: ValidationError) -> tuple[list[str | int], str, str]:
    """(field path, reason, fix) of one schema error, pointing at the field itself. The reason
    follows "FIELD: " in the message, or "FIELD " where it starts with "is"."""
    path = list(error.absolute_path)
    kw, value = error.validator, error.validator_value
    if kw == "required":
        missing = [k for k in value if k not in error.instance]
        return path + missing[:1], "missing", "Add this required field."
    if kw == "additionalProperties":
        extra = sorted(k for k in error.instance if k not in error.schema.get("properties", {}))
        allowed = ", ".join(error.schema.get("properties", {}))
        return path + extra[:1], "unknown field", f"Remove it or fix its spelling; the fields here are: {allowed}."
    if kw in ("maxLength", "maxItems"):  # the value is not quoted: it is what is too long
        unit = "characters" if kw == "maxLength" else "items"
        problem = f"is too long: {len(error.instance)} {unit}, at most {value}"
        return path, problem, f"Shorten it to at most {value} {unit}."
    fixes = {  # by keyword; lambdas, as validator_value's type depends on the keyword
        "type": lambda v: f"Give a value of type {v}.",
        "minimum": lambda v: f"Give a value >= {v}.",
        "maximum": lambda v: f"Give a value <= {v}.",
        "exclusiveMinimum": lambda v: f"Give a value > {v}.",
        "pattern": lambda v: error.schema.get("description", "See the schema for its form."),
        "const": lambda v: error.schema.get("description", f"Set it to {json.dumps(v)}."),
        "enum": lambda v: f"Use one of {', '.join(json.dumps(x) for x in v)}.",
        "minItems": lambda v: f"Give at least {v} item(s).",
        "minLength": lambda v: "Give a non-empty string.",
    }
    fix = fixes[kw](value) if kw in fixes else "See the schema for what this field holds."
    reason = error.message if len(error.message) <= 200 else error.message[:200] + "..."  # it quotes the value
    return path, reason, fix


def _schema_message(label: str, kind: str, errors: list[ValidationError]) -> str:
    """One line: the first problem with its fix, then how many more (a few named)."""
    first = best_match(errors)
    path, reason, fix = _explain(first)
    message = f"{label}: {field_path(path)}{' ' if reason.startswith('is ') else ': '}{reason}. {fix}"
    others = sorted({field_path(p) for p, _, _ in (_explain(e) for e in errors if e is not first)} - {field_path(path)})
    if others:
        named = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        message += f" Also {len(others)} more field(s) to fix: {named}."
    return message + f" Schema: dexbench/leaderboards/schemas/{SCHEMA_FILES[kind]}."


# ----------------------------------------------------------------------------- consistency
Fail = Callable[[Sequence[str | int], str, str], SubmissionError]


def _check_semantics(obj: dict[str, Any], kind: str, label: str) -> None:
    def fail(parts: Sequence[str | int], problem: str, fix: str) -> SubmissionError:
        return SubmissionError(f"{label}: {field_path(parts)}: {problem}. {fix}")

    hidden = invisible_char(obj["name"])
    if hidden is not None:
        which = f"U+{ord(hidden):04X} ({unicodedata.name(hidden, 'unnamed')})"
        raise fail(
            ["name"],
            f"holds the invisible character {which}",
            "Remove it: a name must look like what it holds, or it can pass for another submission's name.",
        )
    mixed = mixed_script_word(obj["name"])
    if mixed is not None:
        word, scripts = mixed
        raise fail(
            ["name"],
            f"the word {word[:40]!r} mixes {' and '.join(sorted(s.title() for s in scripts))} letters",
            "Write each word in one script: letters of one script drawn like another's let a "
            "name pass for another submission's name.",
        )
    seen: dict[tuple, int] = {}
    for i, row in enumerate(obj["results"]):
        if kind == "policy":
            where, result, key = ["results", i], row, (row["env_id"],)
        else:
            where, result = ["results", i, "downstream", "eval"], row["downstream"]["eval"]
            key = (row["env_id"], row["source_env_id"], row["num_demos"], row["downstream"]["policy"])
            check_generation(row, ["results", i], fail)
        # An env id has a row per test set (the env as registered, objects varied, ...).
        env_kwargs = result.get("env_kwargs") if isinstance(result, dict) else None
        if env_kwargs:
            key += (f"env made with {json.dumps(env_kwargs, sort_keys=True)}",)
        if key in seen:
            raise fail(
                ["results", i],
                f"repeats results[{seen[key]}] ({', '.join(map(str, key))})",
                "Keep one result per env id and test set (per source env, demo count and policy for generators).",
            )
        seen[key] = i
        check_eval_result(result, where, fail)


MIN_CPU_S = 1e-3  # s: the CPU time of a generation is measured in milliseconds or more
GENERATION_FIELDS = ("attempts", "generation_success_rate", "demos_per_cpu_min", "cpu_s")


def check_generation(row: dict[str, Any], where: list[str | int], fail: Fail) -> None:
    """The generation numbers of a schema-valid generator row agree with each other: successes
    (the demos) <= attempts, rate = demos / attempts, speed = demos / CPU minutes."""
    copy = "Copy the numbers unchanged from the generation report (`dexbench leaderboard submit-generators` does)."
    result = row["downstream"]["eval"]
    if result["env_id"] != row["env_id"]:
        raise fail(
            where + ["downstream", "eval", "env_id"],
            f"{result['env_id']} differs from the row's env_id {row['env_id']}",
            "Evaluate the downstream policy on the env id the demos were generated for.",
        )
    problem = record_problem(row)
    if problem:
        parts, text = problem
        raise fail(where + parts, text, "Submit the record `dexbench leaderboard submit-generators` writes, unchanged.")
    given = [f for f in GENERATION_FIELDS if row[f] is not None]
    if not given:  # a row without generation: the policy trained on the sources alone
        return
    if len(given) < len(GENERATION_FIELDS):
        missing = next(f for f in GENERATION_FIELDS if row[f] is None)
        raise fail(
            where + [missing],
            f"null while {given[0]} is given",
            f"Give all of {', '.join(GENERATION_FIELDS)}, or none for a row trained on the sources alone.",
        )
    demos, attempts = row["num_demos"], row["attempts"]
    if demos > attempts:
        raise fail(
            where + ["num_demos"],
            f"{demos} demos from {attempts} attempts",
            "An attempt gives at most one demo. " + copy,
        )
    rate = row["generation_success_rate"]
    if abs(rate - demos / attempts) > TOLERANCE:
        raise fail(where + ["generation_success_rate"], f"{rate} but num_demos / attempts = {demos}/{attempts}", copy)
    # demos * 60 / cpu_s, not demos / (cpu_s / 60): a denormal cpu_s (5e-324) divided by 60 is 0.0.
    speed, want = row["demos_per_cpu_min"], demos * 60 / row["cpu_s"] if row["cpu_s"] >= MIN_CPU_S else math.inf
    if not math.isfinite(want):  # a CPU time too small to be measured: no speed to compare
        raise fail(
            where + ["cpu_s"],
            f"{row['cpu_s']:.3g} s, too small to be the CPU time of {demos} demos",
            f"Give the report's cpu_s (at least {MIN_CPU_S} s). " + copy,
        )
    if abs(speed - want) > max(SPEED_TOLERANCE, SPEED_RELATIVE_TOLERANCE * want):
        raise fail(
            where + ["demos_per_cpu_min"],
            f"{speed} but num_demos / CPU minutes = {demos} / ({row['cpu_s']} s / 60) = {want:.2f}",
            copy,
        )


def check_eval_result(result: dict[str, Any], where: list[str | int], fail: Fail) -> None:
    """Consistency of one schema-valid eval result; `fail(path, problem, fix)` makes the error."""
    import gymnasium as gym

    from dexbench.envs.registry import ENV_TABLE, lookup
    from dexbench.evaluation.stats import wilson_interval

    env_id = result["env_id"]
    try:
        lookup(env_id)
    except gym.error.Error as err:  # names the closest known ids
        raise fail(where + ["env_id"], "not a DexBench env id", str(err)) from None
    parts = f"DexMG/{result['task']}-{result['embodiment']}-{result['variant']}"
    if parts != env_id:
        raise fail(
            where + ["env_id"],
            f"{env_id} but task/embodiment/variant say {parts}",
            "Copy the eval result unchanged from `dexbench eval`.",
        )
    if result["native"] != ENV_TABLE[env_id].native:
        raise fail(
            where + ["native"],
            f"{result['native']}, but {env_id} is "
            f"{'' if ENV_TABLE[env_id].native else 'not '}the task's native embodiment",
            "Copy the eval result unchanged from `dexbench eval`.",
        )
    check_suite_version(result["suite_version"], where, fail)
    for key, value in ((result.get("policy") or {}).get("kwargs") or {}).items():
        if isinstance(value, str) and (
            PurePosixPath(value).is_absolute()
            or PureWindowsPath(value).is_absolute()
            or ".." in PurePosixPath(value.replace("\\", "/")).parts
        ):
            raise fail(
                where + ["policy", "kwargs", key],
                f"{value!r} is a path of the machine that made the result",
                "Record a checkpoint by its checkpoint_sha256 and a path relative to the submission's folder "
                "(`dexbench eval` of this version does so).",
            )
    # The env's horizon, not the file's claim: a result saying "horizon": 10**6 must not make long
    # episodes look as if the env ran them. An env made with another horizon says so in env_kwargs.
    given = (result.get("env_kwargs") or {}).get("horizon")
    if given is not None and env_horizon(env_id, {"horizon": given}) != given:  # not a whole number >= 1
        raise fail(
            where + ["env_kwargs", "horizon"],
            "not a whole number of steps >= 1, so no env was made with it",
            "Copy the eval result unchanged from `dexbench eval`.",
        )
    horizon = env_horizon(env_id, result.get("env_kwargs"))
    if result["horizon"] != horizon:
        made = "the env made with these env_kwargs" if horizon != default_horizon(env_id) else env_id
        raise fail(
            where + ["horizon"],
            f"{result['horizon']}, but {made} has a horizon of {horizon} steps",
            "Copy the eval result unchanged from `dexbench eval` (an env made with another horizon has it "
            "in env_kwargs).",
        )
    episodes, seeds = result["episodes"], result["seeds"]["values"]
    too_long = next((j for j, e in enumerate(episodes) if e["length"] > horizon), None)
    if too_long is not None:  # an episode stops at the horizon: a longer one was not run by `dexbench eval`
        raise fail(
            where + ["episodes", too_long, "length"],
            f"{episodes[too_long]['length']} steps, over the horizon of {horizon} steps of {env_id}",
            "Copy the eval result unchanged from `dexbench eval` (each length is in 1..horizon).",
        )
    if result["num_episodes"] != len(episodes):
        raise fail(
            where + ["num_episodes"],
            f"{result['num_episodes']} but there are {len(episodes)} episodes",
            "Copy the eval result unchanged from `dexbench eval`.",
        )
    ep_seeds = [e["seed"] for e in episodes]
    if ep_seeds != seeds:
        j = next((k for k, (a, b) in enumerate(zip(ep_seeds, seeds)) if a != b), min(len(ep_seeds), len(seeds)))
        raise fail(
            where + ["episodes", j, "seed"] if j < len(ep_seeds) else where + ["seeds", "values"],
            "episode seeds differ from seeds.values (same seeds, same order expected)",
            "Copy the eval result unchanged from `dexbench eval`.",
        )
    if len(set(seeds)) != len(seeds):
        dup = next(s for s, count in Counter(seeds).items() if count > 1)
        raise fail(where + ["seeds", "values"], f"seed {dup} appears more than once", "Evaluate each seed once.")
    if result["seeds"]["source"] == "published":
        try:
            expected = published_seeds(env_id, len(seeds))
        except (KeyError, ValueError) as err:  # no published seeds for the id, or not that many
            raise fail(
                where + ["seeds", "values"],
                f"cannot be the published seeds ({err})",
                'Evaluate with fewer episodes, or set seeds.source to "custom".',
            ) from None
        if seeds != expected:
            raise fail(
                where + ["seeds", "values"],
                f"not the published evaluation seeds of {env_id}",
                "Evaluate with the published seeds (the default of `dexbench eval`), or set seeds.source "
                'to "custom" (shown unranked).',
            )
    successes = sum(bool(e["success"]) for e in episodes)
    if result["successes"] != successes:
        raise fail(
            where + ["successes"],
            f"{result['successes']} but {successes} episodes have success true",
            "Copy the eval result unchanged from `dexbench eval`.",
        )
    rate = result["success_rate"]
    if abs(rate - successes / len(episodes)) > TOLERANCE:
        raise fail(
            where + ["success_rate"],
            f"{rate} but successes / num_episodes = {successes}/{len(episodes)}",
            "Copy the eval result unchanged from `dexbench eval`.",
        )
    lo, hi = result["ci95"]
    want = wilson_interval(successes, len(episodes))
    if max(abs(lo - want[0]), abs(hi - want[1])) > WILSON_TOLERANCE:
        raise fail(
            where + ["ci95"],
            f"[{lo}, {hi}] is not the Wilson interval of {successes}/{len(episodes)} ([{want[0]:.4f}, {want[1]:.4f}])",
            "Copy the eval result unchanged from `dexbench eval`.",
        )


def default_horizon(env_id: str) -> int:
    """The step limit of an env id as registered (its task's horizon)."""
    from dexbench.envs.registry import ENV_TABLE
    from dexbench.envs.tasks import TASKS

    return TASKS[ENV_TABLE[env_id].task].horizon


def env_horizon(env_id: str, env_kwargs: dict[str, Any] | None) -> int:
    """The step limit of the env a result was evaluated on: `horizon` of its env kwargs when
    given as a whole number, else the registered one."""
    given = (env_kwargs or {}).get("horizon")
    if isinstance(given, int) and not isinstance(given, bool) and given >= 1:
        return given
    return default_horizon(env_id)


def version_key(text: str) -> tuple[tuple[int, str], ...]:
    """The leading MAJOR.MINOR.PATCH of a version as a comparable key, without int(): a digit run
    may be thousands long (int() refuses over 4300 digits). Leading zeros are dropped; a longer run
    is the larger number."""
    match = re.match(r"([0-9]+)\.([0-9]+)\.([0-9]+)", text)
    parts = [p.lstrip("0") for p in match.groups()] if match else []
    return tuple((len(p), p) for p in parts)


def check_suite_version(version: str, where: list[str | int], fail: Fail) -> None:
    """A result cannot come from a DexBench newer than this one: its env ids or checks may differ."""
    from dexbench import __version__

    if version_key(version) > version_key(__version__):
        shown_version = version if len(version) <= 40 else version[:40] + "..."
        raise fail(
            where + ["suite_version"],
            f"{shown_version} is newer than the installed DexBench {__version__}",
            f"Update DexBench to that version to validate it, or evaluate again with DexBench {__version__}.",
        )
