"""Leaderboards of policies and demo generators: the published submission schemas
(`schemas/*.schema.json`), validation of submission files (`validate`), and the build of
leaderboards/README.md and leaderboards/index.html from them (`build`, `render`)."""

from dexbench.leaderboards.build import build_leaderboards
from dexbench.leaderboards.validate import (
    SubmissionError,
    load_schema,
    validate_submission,
)

__all__ = ["SubmissionError", "build_leaderboards", "load_schema", "validate_submission"]
