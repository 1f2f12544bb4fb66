"""Scripted Pouring (written next)."""

from __future__ import annotations

from dexbench.generators.scripted.base import ArmScript, ScriptedDemonstrator


class PouringDemonstrator(ScriptedDemonstrator):
    def script(self, arm: str) -> ArmScript:
        yield from self.hold(arm, 1)
