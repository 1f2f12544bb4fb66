"""Scripted Coffee: the left hand puts the pod into the holder, then the right hand closes the lid.

Left: over the pod -> down -> close -> up (check) -> turn to the hinge's heading -> over the
holder -> line the pod up over the holder's axis (measured, twice) -> down until the pod's
bottom is 1.2 cm in -> open (the pod drops in) -> up and back toward home.
Right: wait until the pod is in and the left hand is clear -> from above, down behind the open
lid -> sweep round the hinge, pushing the lid over -> press it a little past shut -> slide back
toward the hinge -> up (check).

The script is closed-loop, as an oracle may be: it checks the grasp (signal and lift), that
the pod went in, and that the lid closed, and repeats a phase, re-planned from where things
now are, that did not take. It lines the held pod up from where the pod really is in the hand:
the holder's 3.7 mm of play is less than a grasp's slip.
"""

from __future__ import annotations

import numpy as np

from dexbench.envs.tasks.coffee import (
    HINGE_Y_M,
    HINGE_Z_M,
    LID_HALF_M,
    POD_HALF_HEIGHT_M,
)
from dexbench.generators.scripted.base import (
    ArmScript,
    ScriptedDemonstrator,
    heading_of,
    nearest_heading,
    top_down,
    translated,
)

APPROACH_HEIGHT_M = 0.08  # hover this far above a grasp before going down
ATTEMPTS = 3  # tries per grasp, insertion or push before going on regardless
# The grasp frame this far below the pod's top: the jaws' pads and a hand's finger pads hold
# the pod's upper half, and their tips stay above the holder's rim while the lower part goes
# in. (6 mm, with a hand's fingertips higher up, let 2 of 20 pods slip out of a hand on D2.)
GRASP_BELOW_TOP_M = 0.012
# Keyed by `Hand.multi_finger`: the grasp frame this far along its x from the pod's axis. A
# hand centred on the pod can end up holding it between the ring finger and the thumb's base
# only, and it slips out within seconds (4 of 20 PandaDex D1 episodes never got the pod in; the
# one traced dropped it on the way); 1 cm over, the middle fingers close on it too (20 of 20).
GRASP_SHIFT_X_M = {False: 0.0, True: -0.01}
FINGERS_TOWARD_COS = 0.5  # a hand's open fingers within 60 deg of the machine point at it
CHECK_LIFT_M = 0.03  # lift a grasped pod this far, then check it came along
HOVER_M = 0.03  # a carried pod's bottom this far above the rim while lining it up
LINE_UP_ROUNDS = 2  # measure-and-correct rounds over the holder
# Let go with the pod's bottom this far below the rim: the pod is lined up, the jaws' and
# fingers' tips are still above the rim (2 cm put the Panda's jaws on it).
INSERT_DEPTH_M = 0.012
CARRY_CLEAR_M = 0.06  # the pod's bottom this far over the rim while carried there
LEFT_AWAY_M = np.array([0.0, 0.06, 0.0])  # the left hand's rest, from its home
# Lid push (machine frame, about the hinge): the hand's grasp frame follows a circle round the
# hinge axis at `PUSH_RADIUS_M` (the lid is 8.8 cm long), `PUSH_GAP_M` out from the lid's outer
# face, from behind the open lid down to `PUSH_END_RAD` (a little past closed: the hinge's
# stop holds the lid). Keyed by `Hand.multi_finger`: a fist's curled fingers stick out further
# below its grasp frame than closed jaws do.
PUSH_RADIUS_M = {False: 0.075, True: 0.07}
PUSH_GAP_M = {False: 0.015, True: 0.03}
PUSH_START_EXTRA_RAD = np.radians(15)  # start this far behind the lid
PUSH_END_RAD = np.radians(-3)
PUSH_STEP_RAD = np.radians(15)  # sweep in steps of this
BACK_OFF_M = 0.02  # after the push, slide this far toward the hinge before lifting off
ABOVE_LID_M = 0.06  # come down to the sweep's start from this far over the open lid's top


class CoffeeDemonstrator(ScriptedDemonstrator):
    task = "Coffee"

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.left_clear = False

    def script(self, arm: str) -> ArmScript:
        return self.pod_script() if arm == "left" else self.lid_script()

    # ------------------------------------------------------------------ left: the pod
    def pod_script(self) -> ArmScript:
        arm = "left"
        for _ in range(ATTEMPTS):
            held = False
            for _ in range(ATTEMPTS):
                if held := (yield from self.grasp_pod()):
                    break
            if held and (yield from self.insert_pod()):
                break
        away = self.target[arm].copy()
        away[:3, 3] = self.home[arm][:3, 3] + LEFT_AWAY_M + self.jitter(0.01)
        yield from self.move(arm, away)
        self.left_clear = True
        yield from self.hold(arm, 10)

    def grasp_pod(self) -> ArmScript:
        """Top-down grasp of the pod as it stands now; returns whether it came up with the hand."""
        arm = "left"
        pod = self.env.object_poses()["pod"][:3, 3]
        heading = self.grasp_heading()
        yield from self.turn_toward(arm, heading)
        grasp = top_down(pod + [0, 0, POD_HALF_HEIGHT_M - GRASP_BELOW_TOP_M] + self.jitter(0.003), heading)
        grasp = translated(grasp, grasp[:3, 0] * GRASP_SHIFT_X_M[self.hand_model.multi_finger])
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), self.open_hand)
        yield from self.move(arm, grasp, self.open_hand, speed_scale=0.5, settle_steps=self.steps(5))
        yield from self.set_hand(arm, self.closed_hand, self.steps(10))
        yield from self.hold(arm, 4)
        yield from self.move(arm, translated(self.target[arm], [0, 0, CHECK_LIFT_M]), speed_scale=0.5, settle_steps=2)
        lifted = self.env.object_poses()["pod"][2, 3] - pod[2] > CHECK_LIFT_M / 3
        if lifted and self.env.subtask_signals()["grasp_pod"]:
            return True
        yield from self.set_hand(arm, self.open_hand, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        return False

    def insert_pod(self) -> ArmScript:
        """Carry the held pod over the holder, line it up from where it really is, lower it
        part way in and let it drop. Returns whether it is in."""
        arm = "left"
        rim = self.env.task.holder_rim()
        carry = rim[2] + CARRY_CLEAR_M + POD_HALF_HEIGHT_M
        lift = max(0.0, carry - self.env.object_poses()["pod"][2, 3])
        yield from self.move(arm, translated(self.target[arm], [0, 0, lift]))
        # Turned in the air to the heading it goes in with (see `pod_heading`).
        yield from self.move(arm, top_down(self.target[arm][:3, 3], self.pod_heading()), speed_scale=0.5)
        yield from self.move(
            arm, self.hand_for(rim + [0, 0, CARRY_CLEAR_M + POD_HALF_HEIGHT_M]), settle_steps=self.steps(4)
        )
        for _ in range(LINE_UP_ROUNDS):
            yield from self.move(
                arm,
                self.hand_for(rim + [0, 0, HOVER_M + POD_HALF_HEIGHT_M]),
                speed_scale=0.5,
                settle_steps=self.steps(6),
            )
        yield from self.move(
            arm,
            self.hand_for(rim + [0, 0, POD_HALF_HEIGHT_M - INSERT_DEPTH_M]),
            speed_scale=0.3,
            settle_steps=self.steps(4),
        )
        yield from self.set_hand(arm, self.open_hand, self.steps(8))
        yield from self.hold(arm, 6)
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M + 0.04]), speed_scale=0.7)
        return self.env.subtask_signals()["insert_pod"]

    def grasp_heading(self) -> float:
        """The pod is round: take it with the hand as it is at home, or a quarter turn from
        there where the open fingers (the grasp frame's y) would reach toward the machine
        (the machine's side is 7-8 cm from a near pod, less than a hand's open fingers)."""
        home = heading_of(self.home["left"])
        poses = self.env.object_poses()
        to_machine = (poses["machine"][:3, 3] - poses["pod"][:3, 3])[:2]
        to_machine /= max(np.linalg.norm(to_machine), 1e-9)
        for turn in (0.0, -np.pi / 2, np.pi / 2):
            h = home + turn
            if np.cos(h) * to_machine[0] + np.sin(h) * to_machine[1] < FINGERS_TOWARD_COS:
                return h
        return home

    def pod_heading(self) -> float:
        """The pod is round: it goes into the holder with the hand's closing axis along the
        lid's hinge (the machine's x), the heading whose thumb points away from the lid (a
        five-finger hand's thumb sticks out along the grasp frame's x, its fingers along y).
        The hand then reaches along the hinge and away from the lid, not back under the open
        lid (lifting out, it would lift the lid with it) nor into its inner face."""
        axis = self.env.object_poses()["machine"][:3, 0]
        return float(np.arctan2(axis[1], axis[0]))

    def hand_for(self, position: np.ndarray) -> np.ndarray:
        """The hand target that puts the held pod's centre at `position`: the present target
        shifted by how far the pod is from there now (keeps the controller's lag and the slip)."""
        target = self.target["left"]
        pod = self.env.object_poses()["pod"][:3, 3]
        return translated(target, position - pod)

    # ------------------------------------------------------------------ right: the lid
    def lid_script(self) -> ArmScript:
        arm, env = "right", self.env
        signals = env.subtask_signals
        yield from self.wait_until(arm, lambda: self.left_clear or signals()["insert_pod"], max_steps=500)
        yield from self.wait_until(arm, lambda: signals()["insert_pod"], max_steps=200)
        pusher = self.closed_hand  # a fist, or closed jaws
        for _ in range(ATTEMPTS):
            angle = env.task.joint_position("lid_hinge")
            start = angle + PUSH_START_EXTRA_RAD
            # From above: the hand comes down behind the open lid, not through it (a lid facing
            # away from the robot leans away over the machine's body).
            above = self.sweep_pose(start)
            above[2, 3] = max(above[2, 3], self.env.task.hinge_position()[2] + 2 * LID_HALF_M[1]) + ABOVE_LID_M
            yield from self.move(arm, above, pusher)
            yield from self.move(arm, self.sweep_pose(start), pusher, speed_scale=0.6, settle_steps=self.steps(3))
            n = int(np.ceil((start - PUSH_END_RAD) / PUSH_STEP_RAD))
            for k in range(1, n + 1):
                yield from self.move(
                    arm, self.sweep_pose(start + (PUSH_END_RAD - start) * k / n), pusher, speed_scale=0.6
                )
            yield from self.hold(arm, self.steps(6))
            # Off the lid toward the hinge first, then up: lifting straight off, the fingers
            # can drag on the tab and lift the lid a few degrees with them.
            toward_hinge = -self.env.object_poses()["machine"][:3, 1] * BACK_OFF_M
            yield from self.move(arm, translated(self.target[arm], toward_hinge + [0, 0, 0.01]), pusher)
            yield from self.move(arm, translated(self.target[arm], [0, 0, 0.08]), pusher)
            if signals()["close_lid"]:
                break

    def sweep_pose(self, angle: float) -> np.ndarray:
        """The right hand's target when the lid's outer face is at hinge angle `angle`: on the
        circle round the hinge, `PUSH_GAP_M` out from the face, top-down. A fist or closed
        jaws push with any quarter turn about the vertical: the one nearest the hand's home
        heading (across or along the lid), so no arm winds its wrist far round to reach."""
        fist = self.hand_model.multi_finger
        machine = self.env.object_poses()["machine"]
        r, g = PUSH_RADIUS_M[fist], LID_HALF_M[2] + PUSH_GAP_M[fist]
        local = np.array(
            [
                0.0,
                HINGE_Y_M + r * np.cos(angle) - g * np.sin(angle),
                HINGE_Z_M + r * np.sin(angle) + g * np.cos(angle),
                1.0,
            ]
        )
        position = (machine @ local)[:3]
        lid_axis = machine[:3, 0]
        lid_heading = float(np.arctan2(lid_axis[1], lid_axis[0]))
        heading = nearest_heading(lid_heading, np.pi / 2, heading_of(self.home["right"]))
        return top_down(position, heading)
