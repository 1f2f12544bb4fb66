"""Leaderboards of policies and demo generators: the published submission schemas
(`schemas/*.schema.json`), safe reading (`reading`) and validation (`validate`) of submission
files, which results are ranked (`ranking`), re-running a policy submission's episodes in the
evaluation sandbox (`verify`), and the build of leaderboards/README.md and
leaderboards/index.html from them (`build`: submissions -> `tables` -> `render`).

Imports run one way: reading, ranking -> tables -> render -> validate -> agreement -> build, submit,
verify (which alone runs policies, through `dexbench.evaluation`)."""

from dexbench.leaderboards.build import BoardFolderError, build_leaderboards
from dexbench.leaderboards.reading import SubmissionError
from dexbench.leaderboards.validate import load_schema, validate_submission

__all__ = ["BoardFolderError", "SubmissionError", "build_leaderboards", "load_schema", "validate_submission"]
