"""Checking leaderboard submissions: the published JSON schema (`schemas/`), then what a schema
cannot say (counts that agree with the episodes, the published seeds, a known env id).

Submissions are untrusted files from pull requests: they are only read with `json.loads`, never
executed or unpickled, and every error names the file, the field path and the fix.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

MAX_BYTES = 5 * 1024 * 1024
TOLERANCE = 1e-6
WILSON_TOLERANCE = 1e-3  # `dexbench eval` rounds intervals to 4 decimals
FORMATS = {"dexbench-policy-submission": "policy", "dexbench-generator-submission": "generator"}
SCHEMA_FILES = {"policy": "policy_submission.schema.json", "generator": "generator_submission.schema.json"}
EVAL_RESULT_SCHEMA = "eval_result.schema.json"  # referenced by both submission schemas, by its $id


class SubmissionError(ValueError):
    """A submission that is unreadable or breaks the schema or its consistency rules."""


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


def published_seeds(env_id: str, n: int) -> list[int]:
    """The benchmark's evaluation seeds of an env id (imported late: evaluation is heavier)."""
    from dexbench.evaluation.seeds import eval_seeds

    return list(eval_seeds(env_id, n))


def read_submission(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object in a file, with errors for big, non-UTF-8, non-JSON or non-object files."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SubmissionError(f"{path}: cannot read it ({err.strerror}). Check the path.") from err
    if size > MAX_BYTES:
        raise SubmissionError(f"{path}: {size / 2**20:.1f} MB, over the {MAX_BYTES // 2**20} MB limit of a "
                              "submission. Leave per-step data out; keep one eval result per env id.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}). "
                              "Save the file as UTF-8 JSON.") from err

    def no_constant(name: str) -> float:  # NaN/Infinity are not JSON, and a rate can't be one
        raise ValueError(f"{name} is not valid JSON")

    try:
        obj = json.loads(text, parse_constant=no_constant)
    except (ValueError, RecursionError) as err:
        raise SubmissionError(f"{path}: not valid JSON ({err}). Fix the syntax, e.g. with "
                              "`python -m json.tool FILE`.") from err
    if not isinstance(obj, dict):
        raise SubmissionError(f"{path}: the top level is a JSON {type(obj).__name__}, not an object. A "
                              'submission is one object with "format", "name", "results", ...')
    return obj


def validate_submission(obj_or_path: dict[str, Any] | str | os.PathLike) -> str:
    """Check a submission (a parsed object, or a file to read) and return its kind, "policy" or
    "generator". Raises SubmissionError naming the file, the field path and the fix."""
    if isinstance(obj_or_path, dict):
        return check_submission(obj_or_path)
    return check_submission(read_submission(obj_or_path), str(obj_or_path))


def check_submission(obj: dict[str, Any], label: str = "submission") -> str:
    """`validate_submission` of an object already read; `label` (the file) starts every error."""
    fmt = obj.get("format")
    kind = FORMATS.get(fmt) if isinstance(fmt, str) else None
    if kind is None:
        known = ", ".join(repr(f) for f in FORMATS)
        raise SubmissionError(f"{label}: format: {fmt!r} is not a submission format. "
                              f"Set it to one of {known}.")
    errors = list(_validator(kind).iter_errors(obj))
    if errors:
        raise SubmissionError(_schema_message(label, kind, errors))
    _check_semantics(obj, kind, label)
    return kind


# ----------------------------------------------------------------------------- schema errors
def field_path(parts: Sequence[str | int]) -> str:
    """`results[0].success_rate` for the path ("results", 0, "success_rate")."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error: ValidationError) -> tuple[list[str | int], str, str]:
    """(field path, reason, fix) of one schema error, pointing at the field itself."""
    path = list(error.absolute_path)
    kw, value = error.validator, error.validator_value
    if kw == "required":
        missing = [k for k in value if k not in error.instance]
        return path + missing[:1], "missing", "Add this required field."
    if kw == "additionalProperties":
        extra = sorted(k for k in error.instance if k not in error.schema.get("properties", {}))
        allowed = ", ".join(error.schema.get("properties", {}))
        return path + extra[:1], "unknown field", f"Remove it or fix its spelling; the fields here are: {allowed}."
    fixes = {  # by keyword; lambdas, as validator_value's type depends on the keyword
        "type": lambda v: f"Give a value of type {v}.",
        "minimum": lambda v: f"Give a value >= {v}.",
        "maximum": lambda v: f"Give a value <= {v}.",
        "pattern": lambda v: error.schema.get("description", "See the schema for its form."),
        "const": lambda v: f"Set it to {json.dumps(v)}.",
        "enum": lambda v: f"Use one of {', '.join(json.dumps(x) for x in v)}.",
        "minItems": lambda v: f"Give at least {v} item(s).",
        "minLength": lambda v: "Give a non-empty string.",
    }
    fix = fixes[kw](value) if kw in fixes else "See the schema for what this field holds."
    reason = error.message if len(error.message) <= 200 else error.message[:200] + "..."  # it quotes the value
    return path, reason, fix


def _schema_message(label: str, kind: str, errors: list[ValidationError]) -> str:
    first = best_match(errors)
    path, reason, fix = _explain(first)
    lines = [f"{label}: {field_path(path)}: {reason}. {fix}"]
    others = sorted((_explain(e) for e in errors if e is not first),
                    key=lambda x: [f"{p:09d}" if isinstance(p, int) else p for p in x[0]])
    if others:
        lines.append(f"{len(others)} more problem(s):")
        lines += [f"  {field_path(p)}: {r}" for p, r, _ in others[:10]]
    lines.append(f"Schema: dexbench/leaderboards/schemas/{SCHEMA_FILES[kind]}.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- consistency
Fail = Callable[[Sequence[str | int], str, str], SubmissionError]


def _check_semantics(obj: dict[str, Any], kind: str, label: str) -> None:
    def fail(parts: Sequence[str | int], problem: str, fix: str) -> SubmissionError:
        return SubmissionError(f"{label}: {field_path(parts)}: {problem}. {fix}")

    seen: dict[tuple, int] = {}
    for i, row in enumerate(obj["results"]):
        if kind == "policy":
            where, result, key = ["results", i], row, (row["env_id"],)
        else:
            where, result = ["results", i, "downstream", "eval"], row["downstream"]["eval"]
            key = (row["env_id"], row["source_env_id"], row["num_demos"], row["downstream"]["policy"])
            if result["env_id"] != row["env_id"]:
                raise fail(where + ["env_id"], f"{result['env_id']} differs from the row's env_id {row['env_id']}",
                           "Evaluate the downstream policy on the env id the demos were generated for.")
            if row["attempts"] is not None and row["num_demos"] > row["attempts"]:
                raise fail(["results", i, "num_demos"], f"{row['num_demos']} demos from {row['attempts']} attempts",
                           "An attempt gives at most one demo: copy both from the generation report.")
        if key in seen:
            raise fail(["results", i], f"repeats results[{seen[key]}] ({', '.join(map(str, key))})",
                       "Keep one result per env id (per source env, demo count and policy for generators).")
        seen[key] = i
        check_eval_result(result, where, fail)


def check_eval_result(result: dict[str, Any], where: list[str | int], fail: Fail) -> None:
    """Consistency of one schema-valid eval result; `fail(path, problem, fix)` makes the error."""
    import gymnasium as gym

    from dexbench.envs.registry import ENV_TABLE, lookup

    env_id = result["env_id"]
    try:
        lookup(env_id)
    except gym.error.Error as err:  # names the closest known ids
        raise fail(where + ["env_id"], "not a DexBench env id", str(err)) from None
    parts = f"DexMG/{result['task']}-{result['embodiment']}-{result['variant']}"
    if parts != env_id:
        raise fail(where + ["env_id"], f"{env_id} but task/embodiment/variant say {parts}",
                   "Copy the eval result unchanged from `dexbench eval`.")
    if result["native"] != ENV_TABLE[env_id].native:
        raise fail(where + ["native"], f"{result['native']}, but {env_id} is "
                   f"{'' if ENV_TABLE[env_id].native else 'not '}the task's native embodiment",
                   "Copy the eval result unchanged from `dexbench eval`.")
    episodes, seeds = result["episodes"], result["seeds"]["values"]
    if result["num_episodes"] != len(episodes):
        raise fail(where + ["num_episodes"], f"{result['num_episodes']} but there are {len(episodes)} episodes",
                   "Copy the eval result unchanged from `dexbench eval`.")
    ep_seeds = [e["seed"] for e in episodes]
    if ep_seeds != seeds:
        j = next((k for k, (a, b) in enumerate(zip(ep_seeds, seeds)) if a != b), min(len(ep_seeds), len(seeds)))
        raise fail(where + ["episodes", j, "seed"] if j < len(ep_seeds) else where + ["seeds", "values"],
                   "episode seeds differ from seeds.values (same seeds, same order expected)",
                   "Copy the eval result unchanged from `dexbench eval`.")
    if len(set(seeds)) != len(seeds):
        dup = next(s for s, count in Counter(seeds).items() if count > 1)
        raise fail(where + ["seeds", "values"], f"seed {dup} appears more than once", "Evaluate each seed once.")
    if result["seeds"]["source"] == "published":
        try:
            expected = published_seeds(env_id, len(seeds))
        except (KeyError, ValueError) as err:  # no published seeds for the id, or not that many
            raise fail(where + ["seeds", "values"], f"cannot be the published seeds ({err})",
                       'Evaluate with fewer episodes, or set seeds.source to "custom".') from None
        if seeds != expected:
            raise fail(where + ["seeds", "values"], f"not the published evaluation seeds of {env_id}",
                       'Evaluate with the published seeds (the default of `dexbench eval`) or set seeds.source '
                       'to "custom".')
    successes = sum(bool(e["success"]) for e in episodes)
    if result["successes"] != successes:
        raise fail(where + ["successes"], f"{result['successes']} but {successes} episodes have success true",
                   "Copy the eval result unchanged from `dexbench eval`.")
    rate = result["success_rate"]
    if abs(rate - successes / len(episodes)) > TOLERANCE:
        raise fail(where + ["success_rate"], f"{rate} but successes / num_episodes = {successes}/{len(episodes)}",
                   "Copy the eval result unchanged from `dexbench eval`.")
    lo, hi = result["ci95"]
    if not lo - TOLERANCE <= rate <= hi + TOLERANCE:
        raise fail(where + ["ci95"], f"[{lo}, {hi}] does not contain the success rate {rate}",
                   "Copy the eval result unchanged from `dexbench eval`.")
    if result["ci_method"] == "wilson":
        from dexbench.evaluation.stats import wilson_interval

        want = wilson_interval(successes, len(episodes))
        if max(abs(lo - want[0]), abs(hi - want[1])) > WILSON_TOLERANCE:
            raise fail(where + ["ci95"], f"[{lo}, {hi}] is not the Wilson interval of {successes}/{len(episodes)} "
                       f"([{want[0]:.4f}, {want[1]:.4f}])", "Copy the eval result unchanged from `dexbench eval`.")

