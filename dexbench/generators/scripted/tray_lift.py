"""Scripted TrayLift: each hand puts its cube on the tray, then both lift it by the handles.

Per arm: above the cube -> down -> close -> up -> over its half of the tray -> down -> open ->
up -> over the handle on its side -> down -> close -> wait for the other hand -> lift together.

The script is closed-loop, as an oracle may be: it checks each grasp and placement from the
subtask signals and object poses, and repeats a phase (re-planned from where things now are)
that did not take: a cube that slipped from the hand, missed the tray or was knocked off it, a
handle grasp that closed on nothing.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.envs.embodiments.base import ARMS
from dexbench.envs.tasks.tray_lift import (
    CUBE_HALF_M,
    HANDLE_END_Y_M,
    HANDLE_Y_M,
    HANDLE_Z_M,
    TRAY_HALF_Y_M,
    TRAY_PLATE_HALF_Z_M,
)
from dexbench.generators.scripted.base import (
    ArmScript,
    ScriptedDemonstrator,
    heading_of,
    nearest_heading,
    top_down,
    translated,
)

APPROACH_HEIGHT_M = 0.10  # hover this far above a grasp before going down
CARRY_HEIGHT_M = 0.10  # cube bottom this far above the tray while carrying
# Each cube goes this far from the tray centre, on its arm's side: far enough apart that two
# big hands letting go side by side do not knock each other's cube, clear of the handles.
CUBE_SPOT_Y_M = 0.07
CHECK_LIFT_M = 0.03  # lift a grasped cube this far, then check it came along
LIFT_M = 0.18
HAND_CLEARANCE_M = 0.12  # a handle bar this close (xy) to a cube is in an open hand's way
HIGH_GRASP_M = 0.015  # so a hand grasps such a cube this much higher
ATTEMPTS = 3  # tries per grasp or placement before going on regardless
# A handle the hand cannot get over straight down (a Panda arm would have to fold into its
# base for a handle close to it) is grasped with the wrist leaning this far over the tray.
HANDLE_LEAN_RAD = np.radians(25)
REACH_TOL_M = 0.02  # the hand is this far from its target after settling: out of reach
NEAR_X_M = -0.25  # only a handle nearer the robot than this (world x) is leant over
SIDE = {"right": -1.0, "left": 1.0}  # world y side of each arm


class TrayLiftDemonstrator(ScriptedDemonstrator):
    task = "TrayLift"

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.lift_ready: set[str] = set()
        self.lean = {arm: False for arm in ARMS}

    def script(self, arm: str) -> ArmScript:
        closed = self.closed_hand
        for _ in range(ATTEMPTS):
            # 1-2. Grasp the cube and put it on the tray; if it slipped or fell off the tray,
            #      pick it up again from wherever it is now.
            for _ in range(ATTEMPTS):
                for grasp_try in range(ATTEMPTS):
                    if (yield from self.grasp_cube(arm, grasp_try)):
                        break
                yield from self.place_cube(arm)
                if not self.cube_dropped(arm):
                    break

            # 3. Grasp the handle on this arm's side across the bar (again if it did not take).
            yield from self.turn_toward(arm, self.handle_grasp(arm)[1])
            for _ in range(ATTEMPTS):
                if (yield from self.grasp_handle(arm)):
                    break
            if not self.cube_dropped(arm):
                break
            # Going for the handle knocked the cube off the tray: let go and start again.
            yield from self.set_hand(arm, self.open_hand, self.steps(6))
            yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))

        # 4. Lift together: wait for the other hand, then move in lockstep (same timing).
        self.lift_ready.add(arm)
        yield from self.wait_until(arm, lambda: self.lift_ready == set(ARMS))
        start = self.target[arm]
        for k in range(1, 41):
            s = k / 40
            s = s * s * (3 - 2 * s)
            yield translated(start, [0, 0, LIFT_M * s]), closed
        yield from self.hold(arm, 30)

    # ------------------------------------------------------------------ phases
    def grasp_cube(self, arm: str, attempt: int) -> ArmScript:
        """Top-down grasp of the cube as it lies now (a cube is symmetric under quarter turns:
        a retry turns the hand a quarter turn); returns whether the cube came up with the hand."""
        opened, closed = self.open_hand, self.closed_hand
        cube = self.env.object_poses()[f"cube_{arm}"]
        cube_yaw = np.arctan2(cube[1, 0], cube[0, 0])
        heading = nearest_heading(cube_yaw, np.pi / 2, heading_of(self.home[arm])) + attempt * np.pi / 2
        heading = nearest_heading(heading, 2 * np.pi, 0.0)  # keep within a half turn of +x
        grasp = top_down(cube[:3, 3] + self.jitter(), heading)
        # An open hand spreads its fingers and thumb level with its palm, just above the cube's
        # top: next to a handle bar (as high as the cube) it would catch the bar and drag the
        # tray along. There it takes the cube higher up, palm and fingers clear of the bar.
        bar = self.nearest_bar_point(cube[:3, 3]) - cube[:3, 3]
        if self.hand_model.multi_finger and np.linalg.norm(bar[:2]) < HAND_CLEARANCE_M:
            grasp[2, 3] += HIGH_GRASP_M
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), opened)
        yield from self.move(arm, grasp, opened, speed_scale=0.5, settle_steps=self.steps(6))
        yield from self.set_hand(arm, closed, self.steps(10))
        yield from self.hold(arm, 4)
        yield from self.move(arm, translated(self.target[arm], [0, 0, CHECK_LIFT_M]), speed_scale=0.5, settle_steps=3)
        lifted = self.env.object_poses()[f"cube_{arm}"][2, 3] - cube[2, 3] > CHECK_LIFT_M / 3
        if lifted and self.env.subtask_signals()[f"grasp_cube_{arm}"]:
            return True
        # Missed: let go, back off upwards, and try again from the cube's new pose.
        yield from self.set_hand(arm, opened, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        return False

    def place_cube(self, arm: str) -> ArmScript:
        """Carry the cube over its half of the tray and let go just above the tray (planned
        again from above, in case the tray was nudged)."""
        opened = self.open_hand
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M + 0.02 - CHECK_LIFT_M]))
        spot_jitter = self.jitter(0.008)
        yield from self.move(arm, translated(self.cube_spot(arm, spot_jitter), [0, 0, CARRY_HEIGHT_M]))
        yield from self.move(arm, self.cube_spot(arm, spot_jitter), speed_scale=0.5, settle_steps=self.steps(6))
        yield from self.set_hand(arm, opened, self.steps(8))
        yield from self.hold(arm, 4)
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))

    def cube_dropped(self, arm: str) -> bool:
        """The cube missed the tray (or was knocked off it) and lies on the table: pick it up
        again. A cube on the tray is left alone, even askew: grasping it there could drag the
        tray along."""
        cube = self.env.object_poses()[f"cube_{arm}"]
        on_table = cube[2, 3] < self.env.task.table_top_z + CUBE_HALF_M + 0.01
        return bool(on_table and not self.env.subtask_signals()[f"cube_{arm}_on_tray"])

    def grasp_handle(self, arm: str) -> ArmScript:
        """Grasp the handle (planned from above, then again before going down: the other hand
        may nudge the tray; leaning the wrist if the hand could not get above it straight
        down); returns whether the hand holds it."""
        opened, closed = self.open_hand, self.closed_hand
        above = [0, 0, APPROACH_HEIGHT_M]
        yield from self.move(arm, translated(self.handle_grasp(arm)[0], above), opened, settle_steps=4)
        reached = np.linalg.norm(self.env.eef_poses()[arm][:3, 3] - self.target[arm][:3, 3]) < REACH_TOL_M
        if not reached and self.target[arm][0, 3] < NEAR_X_M and not self.lean[arm]:
            self.lean[arm] = True
            yield from self.move(arm, translated(self.handle_grasp(arm)[0], above), opened)
        yield from self.move(arm, self.handle_grasp(arm)[0], opened, speed_scale=0.5, settle_steps=self.steps(6))
        yield from self.set_hand(arm, closed, self.steps(10))
        yield from self.hold(arm, 6)
        if self.env.subtask_signals()[f"grasp_tray_{arm}"]:
            return True
        yield from self.set_hand(arm, opened, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        return False

    # ------------------------------------------------------------------ geometry
    def side_of_tray(self, arm: str) -> tuple[np.ndarray, np.ndarray]:
        """The tray's pose and its in-plane axis pointing to this arm's side."""
        tray = self.env.object_poses()["tray"]
        side_dir = tray[:3, 1] if np.dot(tray[:3, 1], [0, SIDE[arm], 0]) > 0 else -tray[:3, 1]
        return tray, side_dir

    def nearest_bar_point(self, point: np.ndarray) -> np.ndarray:
        """The point on either handle bar's axis nearest `point` (in the table plane)."""
        tray = self.env.object_poses()["tray"]
        candidates = []
        for axis in (tray[:3, 1], -tray[:3, 1]):
            inner = tray[:3, 3] + axis * TRAY_HALF_Y_M
            along = np.clip(np.dot((point - inner)[:2], axis[:2]), 0.0, HANDLE_END_Y_M - TRAY_HALF_Y_M)
            candidates.append(inner + axis * along)
        return min(candidates, key=lambda c: np.linalg.norm((c - point)[:2]))

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
        pose = top_down(handle + self.handle_offset(closing), heading)
        if self.lean[arm]:
            # Lean the wrist toward the tray's centre, about the closing axis so the hand still
            # closes across the bar.
            toward_centre = 1.0 if np.dot(pose[:3, 0], side_dir) < 0 else -1.0  # sign of frame x
            pose[:3, :3] = pose[:3, :3] @ Rotation.from_euler("y", -toward_centre * HANDLE_LEAN_RAD).as_matrix()
        return pose, heading

    def handle_offset(self, closing: np.ndarray) -> np.ndarray:
        """Where the grasp frame goes relative to the bar's axis: a hand holds the thin bar
        nearer its fingers and a little low so they wrap under it; jaws centre on it."""
        if self.hand_model.multi_finger:
            return -0.01 * closing + np.array([0.0, 0.0, -0.006])
        return np.zeros(3)
