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
CUBE_SPOT_Y_M = 0.07  # each cube goes this far from the tray centre, on its arm's side
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

        # 2. Carry it over its half of the tray and let go just above the tray (planned again
        #    from above, in case the tray was nudged).
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M + 0.02]))
        spot_jitter = self.jitter(0.008)
        yield from self.move(arm, translated(self.cube_spot(arm, spot_jitter), [0, 0, CARRY_HEIGHT_M]))
        yield from self.move(arm, self.cube_spot(arm, spot_jitter), speed_scale=0.5, settle_steps=self.steps(6))
        yield from self.set_hand(arm, opened, self.steps(8))
        yield from self.hold(arm, 4)
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))

        # 3. Grasp the handle on this arm's side across the bar, fingers or jaws pointing away
        #    from the robot. The other hand may nudge the tray, so the grasp is planned again
        #    from above before going down.
        yield from self.turn_toward(arm, self.handle_grasp(arm)[1])
        for final in (False, True):
            grasp, _ = self.handle_grasp(arm)
            if final:
                yield from self.move(arm, grasp, opened, speed_scale=0.5, settle_steps=self.steps(6))
            else:
                yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), opened)
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

    def side_of_tray(self, arm: str) -> tuple[np.ndarray, np.ndarray]:
        """The tray's pose and its in-plane axis pointing to this arm's side."""
        tray = self.env.object_poses()["tray"]
        side_dir = tray[:3, 1] if np.dot(tray[:3, 1], [0, SIDE[arm], 0]) > 0 else -tray[:3, 1]
        return tray, side_dir

    def cube_spot(self, arm: str, jitter: np.ndarray) -> np.ndarray:
        """Where the grasp frame lets go of the cube: over this arm's half of the tray."""
        tray, side_dir = self.side_of_tray(arm)
        spot = tray[:3, 3] + side_dir * CUBE_SPOT_Y_M + jitter
        spot[2] = tray[2, 3] + 2 * TRAY_PLATE_HALF_Z_M + CUBE_HALF_M + 0.01
        return top_down(spot, heading_of(self.target[arm]))

    def handle_grasp(self, arm: str) -> tuple[np.ndarray, float]:
        """The grasp frame on the handle on this arm's side (closing across the bar), and its
        heading: the one of the two pointing away from the robot (+x)."""
        tray, side_dir = self.side_of_tray(arm)
        handle = tray[:3, 3] + side_dir * HANDLE_Y_M + tray[:3, 2] * HANDLE_Z_M
        across = float(np.arctan2(side_dir[1], side_dir[0])) - np.pi / 2
        heading = nearest_heading(across, np.pi, 0.0)
        closing = np.array([np.cos(heading), np.sin(heading), 0.0])
        return top_down(handle + self.handle_offset(closing), heading), heading

    def handle_offset(self, closing: np.ndarray) -> np.ndarray:
        """Where the grasp frame goes relative to the bar's axis: a hand holds the thin bar
        nearer its fingers and a little low so they wrap under it; jaws centre on it."""
        if self.hand_name == "dex_hand":
            return -0.01 * closing + np.array([0.0, 0.0, -0.006])
        return np.zeros(3)
