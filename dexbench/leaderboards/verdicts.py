"""One row's verdict, as `dexbench leaderboard verify` records it and the pages show it: a policy
row's episodes re-run (by seed), or a generator row's attempts (by index)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNITS = {"seeds": "episodes", "attempts": "attempts"}  # the record's key -> what it counts


@dataclass
class RowCheck:
    env_id: str
    status: str  # "verified" | "differs" | "unverifiable"
    re_run: list[int] = field(default_factory=list)  # the episodes' seeds, or the attempts' indices
    mismatches: list[dict[str, Any]] = field(default_factory=list)  # seed or attempt, claimed and found
    reason: str | None = None  # why unverifiable, or what differs beyond single episodes or attempts
    key: str = "seeds"  # "seeds" (a policy row) or "attempts" (a generator row)

    def line(self) -> str:
        if self.status == "verified":
            return f"verified on {len(self.re_run)} {UNITS[self.key]}"
        if self.status == "unverifiable":
            return f"unverifiable: {self.reason}"
        shown = "; ".join(mismatch_text(m) for m in self.mismatches[:5])
        more = f" (and {len(self.mismatches) - 5} more)" if len(self.mismatches) > 5 else ""
        return f"differs: {self.reason or shown + more}"

    def to_dict(self) -> dict[str, Any]:
        out = {"env_id": self.env_id, "status": self.status, self.key: self.re_run, "mismatches": self.mismatches}
        return {**out, **({"reason": self.reason} if self.reason else {})}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> RowCheck:
        key = "attempts" if "attempts" in row else "seeds"
        return cls(row["env_id"], row["status"], row.get(key, []), row.get("mismatches", []), row.get("reason"), key)


def mismatch_text(m: dict[str, Any]) -> str:
    if "attempt" in m:
        return f"attempt {m['attempt']}: claimed {_attempt(m['claimed'])}, found {_attempt(m['found'])}"
    return f"seed {m['seed']}: claimed {_episode(m['claimed'])}, found {_episode(m['found'])}"


def _episode(episode: dict[str, Any]) -> str:
    return f"{'success' if episode['success'] else 'failure'} in {episode['length']} steps"


def _attempt(claim: dict[str, Any]) -> str:
    return f"a demo with digest {claim['demo_sha256'][:12]}..." if claim["demo_sha256"] else "a failure"
