"""Scripted TrayLift: each hand puts its cube on the tray, then both lift it by the handles.

Per arm: above the cube -> down -> close -> up -> over its half of the tray -> down -> open ->
up -> over the handle on its side -> down -> close -> wait for the other hand -> lift together.
"""

from __future__ import annotations

import numpy as np

from dexbench.envs.embodiments.base import ARMS
from dexbench.envs.tasks.tray_lift import CUBE_HALF_M, HANDLE_Y_M, HANDLE_Z_M, TRAY_PLATE_HALF_Z_M
from dexbench.generators.scripted.base import (
    ArmScript, ScriptedDemonstrator, heading_of, nearest_heading, top_down, translated,
)

APPROACH_HEIGHT_M = 0.10  # hover this far above a grasp before going down
CARRY_HEIGHT_M = 0.10  # cube bottom this far above the tray while carrying
CUBE_SPOT_Y_M = 0.04  # each cube goes this far from the tray centre, on its arm's side
LIFT_M = 0.18
SIDE = {"right": -1.0, "left": 1.0}  # world y side of each arm


class TrayLiftDemonstrator(ScriptedDemonstrator):
    def reset(self) -> None:
        super().reset()
        self.lift_ready: set[str] = set()

    def script(self, arm: str) -> ArmScript:
        env, closed, opened = self.env, self.closed_hand, self.open_hand
        home_heading = heading_of(self.home[arm])
        objects = env.object_poses()

        # 1. Grasp the cube (top-down; a cube is symmetric under quarter turns).
        cube = objects[f"cube_{arm}"]
        cube_yaw = np.arctan2(cube[1, 0], cube[0, 0])
        heading = nearest_heading(cube_yaw, np.pi / 2, home_heading)
        grasp = top_down(cube[:3, 3] + self.jitter(), heading)
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), opened)
        yield from self.move(arm, grasp, opened, speed_scale=0.5, settle_steps=self.steps(6))
        yield from self.set_hand(arm, closed, self.steps(10))
        yield from self.hold(arm, 4)

        # 2. Carry it over its half of the tray and let go just above the tray.
        tray = env.object_poses()["tray"]
        spot = tray[:3, :3] @ np.array([0.0, 0.0, 0.0]) + tray[:3, 3]
        side_dir = tray[:3, 1] if np.dot(tray[:3, 1], [0, SIDE[arm], 0]) > 0 else -tray[:3, 1]
        spot = spot + side_dir * CUBE_SPOT_Y_M + self.jitter(0.008)
        release_z = tray[2, 3] + 2 * TRAY_PLATE_HALF_Z_M + CUBE_HALF_M + 0.01
        lifted = translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M + 0.02])
        yield from self.move(arm, lifted)
        place = top_down([spot[0], spot[1], release_z], self._heading_now(arm))
        yield from self.move(arm, translated(place, [0, 0, CARRY_HEIGHT_M]))
        yield from self.move(arm, place, speed_scale=0.5, settle_steps=self.steps(6))
        yield from self.set_hand(arm, opened, self.steps(8))
        yield from self.hold(arm, 4)
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))

        # 3. Grasp the handle on this arm's side across the bar. A hand points its fingers in
        #    and hooks them between bar and rim (its thumb goes under the bar from outside);
        #    jaws take whichever heading is nearer home.
        tray = env.object_poses()["tray"]
        handle = tray[:3, 3] + side_dir * HANDLE_Y_M + tray[:3, 2] * HANDLE_Z_M
        inward = float(np.arctan2(-side_dir[1], -side_dir[0]))
        heading = inward if self.hand_name == "dex_hand" else nearest_heading(inward, np.pi, home_heading)
        grasp = top_down(handle + self.handle_offset(side_dir), heading)
        yield from self.turn_toward(arm, heading)
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), opened)
        yield from self.move(arm, grasp, opened, speed_scale=0.5, settle_steps=self.steps(6))
        yield from self.set_hand(arm, closed, self.steps(10))
        yield from self.hold(arm, 6)

        # 4. Lift together: wait for the other hand, then move in lockstep (same timing).
        self.lift_ready.add(arm)
        yield from self.wait_until(arm, lambda: self.lift_ready == set(ARMS))
        start = self.target[arm]
        for k in range(1, 41):
            s = k / 40
            s = s * s * (3 - 2 * s)
            yield translated(start, [0, 0, LIFT_M * s]), closed
        yield from self.hold(arm, 30)

    def _heading_now(self, arm: str) -> float:
        return heading_of(self.target[arm])

    def handle_offset(self, outward: np.ndarray) -> np.ndarray:
        """Where the grasp frame goes relative to the bar. A hand sits a little outward and low
        either way: fingers pointing in hook down between bar and rim; pointing out, the short
        thumb goes there. Jaws centre on the bar."""
        if self.hand_name == "dex_hand":
            return 0.015 * outward + np.array([0.0, 0.0, -0.008])
        return np.zeros(3)
