"""Scripted Pouring: the left hand pours the ball into the bowl, then the right hand pushes the
bowl onto the green pad.

Left: beside the cup -> in -> close -> up -> over the bowl -> tip the cup -> upright -> away.
Right: wait until the ball is in the bowl and the cup is clear -> behind the bowl -> push it
toward the pad in short, re-aimed strokes -> up.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.envs.tasks.pouring import BOWL_RADIUS_M, CUP_HEIGHT_M
from dexbench.generators.scripted.base import (
    ArmScript,
    ScriptedDemonstrator,
    heading_of,
    nearest_heading,
    top_down,
    translated,
)

GRASP_HEIGHT_M = 0.07  # grasp the cup this far above its bottom (high: wrists clear the table)
APPROACH_M = 0.10  # start the side approach this far out
CARRY_HEIGHT_M = 0.14  # cup bottom height while carrying
POUR_ANGLE_RAD = np.radians(115)  # tip the cup this far (about world x, top toward -y)
POUR_HEIGHT_M = 0.10  # grasp frame height above the table while pouring
NEAR_BOWL_X_M = -0.15  # a bowl nearer the robot than this (world x) ...
MAX_POUR_SHIFT_M = 0.04  # ... is poured into up to this far beyond its centre (radius 7 cm)
# Keyed by `Hand.multi_finger`: a hand pushes with its fist, jaws push open.
# Grasp frame height above the table while pushing: the fist's curled fingers or the jaws'
# pads then meet the bowl's 4 cm wall below its rim, so nothing hooks over it.
PUSH_HEIGHT_M = {True: 0.022, False: 0.035}
PUSH_STROKE_M = 0.04  # re-aim the push after each stroke of this length
PUSH_SHORT_M = 0.025  # stop the bowl this far before the pad's centre
# Grasp frame to bowl wall when touching it: a fist's curled fingers lead the frame by
# ~4.5 cm; open jaws straddle the push line and meet the round wall about where it is.
PUSH_CONTACT_GAP_M = {True: 0.045, False: 0.0}


def side_grasp(position: np.ndarray) -> np.ndarray:
    """A grasp frame approaching along -y (from the left), closing along +x, x pointing down."""
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    pose[:3, 3] = position
    return pose


class PouringDemonstrator(ScriptedDemonstrator):
    task = "Pouring"

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.cup_clear = False

    def script(self, arm: str) -> ArmScript:
        return self.pour_script() if arm == "left" else self.push_script()

    # ------------------------------------------------------------------ left: pour
    def pour_script(self) -> ArmScript:
        arm, env = "left", self.env
        cup = env.object_poses()["cup"]
        # The cup as it is this episode (its object variant; the reference in the published ids).
        cup_scale_z = env.task.object_variant("cup").scale_z
        grasp_height, cup_height = GRASP_HEIGHT_M * cup_scale_z, CUP_HEIGHT_M * cup_scale_z
        grasp = side_grasp(cup[:3, 3] + [0.0, 0.0, grasp_height] + self.jitter(0.004) * [1, 0, 0])
        # From the side the open thumb would point at the table: approach with it opposed.
        yield from self.move(arm, translated(grasp, [0.0, APPROACH_M, 0.06]), self.preshaped_hand)
        yield from self.move(arm, translated(grasp, [0.0, APPROACH_M, 0.0]))
        yield from self.move(arm, grasp, speed_scale=0.5, settle_steps=self.steps(5))
        yield from self.set_hand(arm, self.closed_hand, self.steps(10))
        yield from self.hold(arm, 5)

        yield from self.move(arm, translated(self.target[arm], [0, 0, CARRY_HEIGHT_M]))
        bowl = env.object_poses()["bowl"][:3, 3]
        # Over the bowl: the mouth of the tipped cup sits above the bowl's centre (or its far half).
        mouth = (cup_height - grasp_height) * np.array([0.0, -np.sin(POUR_ANGLE_RAD), np.cos(POUR_ANGLE_RAD)])
        # A bowl near the robot is poured into from its far half: right over it, the tipped
        # cup would need a wrist pose a Panda arm cannot reach (it stalls and drops the cup).
        reach_shift = np.clip(NEAR_BOWL_X_M - bowl[0], 0.0, MAX_POUR_SHIFT_M)
        pour_pos = bowl + [reach_shift, 0.0, POUR_HEIGHT_M] - mouth * [0, 1, 0] + self.jitter(0.005)
        above = translated(side_grasp(pour_pos), [0, 0.03, 0.05])
        yield from self.move(arm, above)
        tipped = np.eye(4)
        tipped[:3, :3] = Rotation.from_euler("x", POUR_ANGLE_RAD).as_matrix() @ above[:3, :3]
        tipped[:3, 3] = pour_pos
        yield from self.move(arm, tipped, speed_scale=0.6, settle_steps=self.steps(16))
        yield from self.move(arm, above)
        # Out of the right arm's way: up, then back over the left arm's home position.
        yield from self.move(arm, translated(above, [0.0, 0.0, 0.08]))
        clear = self.target[arm].copy()
        clear[:3, 3] = self.home[arm][:3, 3] + [0.0, 0.05, 0.0]
        yield from self.move(arm, clear)
        self.cup_clear = True

    # ------------------------------------------------------------------ right: push
    def push_script(self) -> ArmScript:
        arm, env = "right", self.env
        signals = env.subtask_signals
        yield from self.wait_until(arm, lambda: self.cup_clear and signals()["ball_in_bowl"], max_steps=600)
        fist = self.hand_model.multi_finger
        gap = PUSH_CONTACT_GAP_M[fist]
        pusher = self.closed_hand if fist else self.open_hand
        bowl, pad = (env.object_poses()[k][:3, 3] for k in ("bowl", "pad"))
        direction = _unit_xy(pad - bowl)
        # Aim a little short of the pad's centre: the pad is near the table's edge.
        goal = pad - direction * PUSH_SHORT_M
        start = self.push_pose(bowl, direction, gap + 0.03)
        yield from self.move(arm, translated(start, [0, 0, 0.12]), pusher)
        yield from self.move(arm, start, pusher, speed_scale=0.6, settle_steps=self.steps(4))
        first_direction = direction
        for _ in range(20):  # short strokes, each re-aimed at the pad from where the bowl is
            bowl = env.object_poses()["bowl"][:3, 3]
            to_go = (goal - bowl) * [1, 1, 0]
            # Close enough (success allows 6 cm), or the bowl went past: never push it back.
            if np.linalg.norm(to_go) < 0.02 or np.dot(_unit_xy(to_go), first_direction) < 0.5:
                break
            direction = _unit_xy(to_go)
            stroke = min(PUSH_STROKE_M, float(np.linalg.norm(to_go)))
            contact = self.push_pose(bowl, direction, gap)
            yield from self.move(arm, translated(contact, direction * stroke), pusher, speed_scale=0.5)
        yield from self.hold(arm, 4)
        # Back off from the wall before going up, so no finger can catch the rim.
        yield from self.move(arm, translated(self.target[arm], -0.03 * direction), pusher)
        yield from self.move(arm, translated(self.target[arm], [0, 0, 0.12]), pusher)

    def push_pose(self, bowl: np.ndarray, direction: np.ndarray, gap: float) -> np.ndarray:
        """Hand pose just behind the bowl's wall, top-down, heading nearest the hand's current
        one. A fist pushes with its curled fingers or the side of the hand (any quarter turn);
        open jaws straddle the push line (closing axis across it)."""
        along = float(np.arctan2(direction[1], direction[0]))
        # Nearest the current heading, not the home one: a push straight along -y is halfway
        # between the jaws' two headings from home, and re-aiming would flip the wrist a half
        # turn mid-push (knocking the bowl aside).
        current = heading_of(self.target["right"])
        if self.hand_model.multi_finger:
            heading = nearest_heading(along, np.pi / 2, current)
        else:
            heading = nearest_heading(along + np.pi / 2, np.pi, current)
        size = self.env.task.object_variant("bowl")  # the bowl as it is this episode
        position = bowl - direction * (BOWL_RADIUS_M * size.scale_xy + gap)
        # Below the rim of a shallower bowl too.
        position[2] = self.env.task.table_top_z + PUSH_HEIGHT_M[self.hand_model.multi_finger] * min(1.0, size.scale_z)
        return top_down(position, heading)


def _unit_xy(v: np.ndarray) -> np.ndarray:
    out = np.array([v[0], v[1], 0.0])
    return out / max(np.linalg.norm(out), 1e-9)
