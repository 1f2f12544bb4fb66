"""Scripted Transport: the right hand takes the lid off and brings the hammer to the middle; the
left hand clears the trash cube, takes the hammer over and puts it into the target bin.

Right: over the lid's handle -> down -> close -> up -> over the spot in front of the start bin
-> down -> open -> up -> over the hammer's handle (the grasp point toward its end) -> down ->
close -> up out of the bin -> to the hand-over pose (hammer level, along y, head to the left,
over the middle) -> wait until the left hand holds it firmly -> let go -> up and away.
Left: over the trash cube -> down -> close -> up -> over the trash bin -> open -> up -> wait
for the hammer at the hand-over pose -> over the hammer's head -> down -> close -> (the right
hand lets go) -> over the target bin -> down -> open -> up.

Closed loop where a grasp can miss: every grasp (lid, hammer, cube, the hand-over) is checked
with its signal after a short lift or hold, and a miss is let go of and tried again from where
things are now; the right hand opens only once the left hand holds the hammer.
"""

from __future__ import annotations

import numpy as np

from dexbench.envs.tasks.transport import (
    BIN_HALF_M,
    BIN_HEIGHT_M,
    BIN_WALL_M,
    FLOOR_TOP_M,
    HAMMER_CENTRE_X_M,
    HANDLE_HALF_M,
    HEAD_X_M,
    LID_BAR_Z_M,
    TRASH_HALF_M,
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
ATTEMPTS = 3  # tries per grasp before going on regardless
CHECK_LIFT_M = 0.03  # lift a grasped object this far, then check it came along
CLEAR_Z_M = BIN_HEIGHT_M + 0.12  # grasp frame height (over the table) that clears every bin wall
# The lid goes down with its centre this far in front of the start bin's (toward the robot).
LID_ASIDE_X_M = -0.33
LID_DROP_M = 0.015  # let go of the lid with its bottom this far over the table
# Hand-over: the hammer's middle over this table point, level, handle along y, this high.
HANDOVER_XY_M = (-0.04, 0.0)
HANDOVER_Z_M = 0.20
# Keyed by `Hand.multi_finger`: grasp frame height over the trash cube's centre.
CUBE_DZ_M = {True: 0.004, False: 0.0}
TRASH_DROP_Z_M = FLOOR_TOP_M + 2 * TRASH_HALF_M + 0.03  # cube centre over the table when let go
HAMMER_DROP_M = 0.012  # let go of the hammer with its bottom this far over the target bin's floor
# Keyed by `Hand.multi_finger`: how far (0 open, 1 closed) a hand's fingers are curled as it
# goes down into a bin. Straight, they stick out 10.5 cm past the grasp point, at the height
# of a wall's top; curled a fifth they reach 1 cm less and point down beside the object, their
# tips still clear of the floor (curled 0.3, they pushed the hand up off it). Jaws stay open.
INTO_BIN_CURL = {True: 0.2, False: 0.0}
# ... over the trash cube, grasped 2.8 cm over the floor (the handle 1.5 cm): curled further.
CUBE_CURL = {True: 0.3, False: 0.0}
# Keyed by `Hand.multi_finger`: where (m along the hammer's axis from its origin, the handle's
# centre; the head at +HEAD_X_M) the right hand holds the handle. A closed hand is 9 cm wide
# along the bar: 5 cm toward the end keeps it 6 cm clear of a hand closed on the head. Jaws are
# 2 cm wide: nearer the centre of mass.
GRIP_X_M = {True: -0.05, False: -0.03}
# Keyed by `Hand.multi_finger`: the left hand's grasp point on the hammer's axis, this far out
# from the head's centre (its fingers then close on the head, not on the handle next to it).
HEAD_GRASP_DX_M = {True: 0.005, False: 0.0}
# An open hand's extremities in its grasp frame (x, y; m): the folded-out thumb's tip and the
# outer fingertips (measured on the hand: fingers 10.5 cm past the grasp point, thumb 11 cm
# along the palm, 5.7 cm to the side).
OPEN_HAND_TIPS_M = np.array([[0.11, -0.057], [0.035, 0.105], [-0.035, 0.105]])
# How far a top-down grasp's closing axis may turn from +x (fingers away from the robot), out
# (toward the arm's own side) and in (across the body): a hand turned further strains its wrist,
# and a humanoid's whole-body IK then bends and twists the waist, which throws the other hand
# (and what it holds) about. Measured on the humanoid carrying the cube from bin to bin: 60 deg
# out and 45 in keep the waist within 0.5 rad; 70-80 deg in bent it 1.2 rad (its limit).
MAX_OUT_RAD, MAX_IN_RAD = np.radians(60), np.radians(45)
# Open fingers and thumb this far inside a bin's walls are clear enough: of the headings that
# keep them so, the one nearest +x.
CLEAR_ENOUGH_M = 0.02
FIRM_STEPS = 4  # the left hand holds the hammer this many steps in a row before the right lets go


class TransportDemonstrator(ScriptedDemonstrator):
    task = "Transport"

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.hammer_at_handover = False
        self.left_closed = False  # the left hand has closed on the hammer at the hand-over

    def script(self, arm: str) -> ArmScript:
        return self.hammer_script() if arm == "right" else self.trash_and_place_script()

    # ------------------------------------------------------------------ shared phases
    def grasp(
        self, arm: str, pose_fn, signal: str, lift: str | None = None, curl: float = 0.0, closed_flag: bool = False
    ) -> ArmScript:
        """Top-down grasp at `pose_fn()` (planned again before going down; with the fingers
        `curl`ed, 0 open to 1 closed); returns whether `signal` holds after a short lift that took the body
        `lift` along (or after a hold, where lifting would pull it out of the other hand)."""
        ready = self.open_hand
        if curl:
            fingers = np.array([not name.startswith("thumb") for name in self.hand_model.command_names])
            curled = self.open_hand + curl * (self.closed_hand - self.open_hand)
            ready = np.where(fingers, curled, self.open_hand)
        yield from self.move(arm, translated(pose_fn(), [0, 0, APPROACH_HEIGHT_M]), self.open_hand, settle_steps=2)
        yield from self.set_hand(arm, ready, self.steps(5))
        yield from self.move(arm, pose_fn(), ready, speed_scale=0.5, settle_steps=self.steps(5))
        yield from self.set_hand(arm, self.closed_hand, self.steps(10))
        self.left_closed = closed_flag  # (the hand-over) the right hand may now let go
        yield from self.hold(arm, 4 + (FIRM_STEPS + 8) * closed_flag)
        lifted = True
        if lift:
            z0 = self.env.object_poses()[lift][2, 3]
            yield from self.move(
                arm, translated(self.target[arm], [0, 0, CHECK_LIFT_M]), speed_scale=0.5, settle_steps=3
            )
            lifted = self.env.object_poses()[lift][2, 3] - z0 > CHECK_LIFT_M / 3
        if lifted and (self.env.subtask_signals()[signal] or self.holds(arm, signal)):
            return True
        self.left_closed = False
        yield from self.set_hand(arm, self.open_hand, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        return False

    def holds(self, arm: str, signal: str) -> bool:
        """A grasp that the hand-over signal does not show yet (the right hand still holds)."""
        task = self.env.task
        task.update_contacts()
        return signal == "hammer_handed_over" and task.is_grasped(arm, task.body_ids["hammer"])

    def lift_to(self, arm: str, z_above_table: float, speed_scale: float = 1.0) -> ArmScript:
        pose = self.target[arm].copy()
        pose[2, 3] = self.env.task.table_top_z + z_above_table
        yield from self.move(arm, pose, speed_scale=speed_scale)

    # ------------------------------------------------------------------ right: lid and hammer
    def hammer_script(self) -> ArmScript:
        arm = "right"
        for _ in range(ATTEMPTS):  # the lid
            for _ in range(ATTEMPTS):
                if (yield from self.grasp(arm, self.lid_grasp, "grasp_lid", lift="lid")):
                    break
            yield from self.lift_to(arm, BIN_HEIGHT_M + LID_BAR_Z_M + 0.08)
            yield from self.move(arm, self.lid_aside(), settle_steps=self.steps(3))
            yield from self.move(
                arm,
                translated(self.target[arm], [0, 0, -(0.08 - LID_DROP_M) - BIN_HEIGHT_M]),
                speed_scale=0.6,
                settle_steps=self.steps(4),
            )
            yield from self.set_hand(arm, self.open_hand, self.steps(6))
            yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
            if self.env.subtask_signals()["lid_off"]:
                break

        for _ in range(ATTEMPTS):  # the hammer
            if (
                yield from self.grasp(
                    arm, self.hammer_grasp, "grasp_hammer", lift="hammer", curl=INTO_BIN_CURL[self.multi]
                )
            ):
                break
        yield from self.lift_to(arm, CLEAR_Z_M, speed_scale=0.6)
        # To the hand-over pose: the hand turns so the handle lies along y, head to the left.
        # (With the hand's x along the hammer toward its head, heading 0; turned, a half turn.)
        along = self.env.eef_poses()[arm][:3, 0] @ self.env.object_poses()["hammer"][:3, 0]
        goal = top_down(self.handover_grip(), 0.0 if along > 0 else np.pi)
        yield from self.move(arm, goal, speed_scale=0.8, settle_steps=self.steps(8))
        self.hammer_at_handover = True
        yield from self.wait_until(
            arm, lambda: self.holds_firmly("left", "hammer", self.left_closed, FIRM_STEPS), max_steps=500
        )
        # Let go with the thumb turned in (the preshape; jaws just open): opened straight, a
        # hand's thumb swings 11 cm out along the handle toward the other hand.
        yield from self.set_hand(arm, self.preshaped_hand, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, -0.10, 0.06]))
        yield from self.move(arm, self.home[arm])

    def lid_grasp(self) -> np.ndarray:
        lid = self.env.object_poses()["lid"]
        bar = lid[:3, 3] + lid[:3, 2] * LID_BAR_Z_M + self.jitter(0.004) * [1, 0, 0]
        # The bar runs along the lid's y: close across it, fingers away from the robot.
        heading = nearest_heading(np.arctan2(lid[1, 0], lid[0, 0]), np.pi, 0.0)
        return top_down(bar, heading)

    def lid_aside(self) -> np.ndarray:
        """Over the spot in front of the start bin where the lid goes down."""
        bin_ = self.env.object_poses()["start_bin"][:3, 3]
        spot = bin_ + [LID_ASIDE_X_M, 0.0, 0.0] + self.jitter(0.01)
        spot[2] = self.target["right"][2, 3]
        return top_down(spot, heading_of(self.target["right"]))

    def hammer_grasp(self) -> np.ndarray:
        """Top-down across the handle at GRIP_X_M along it (a hand: of the two headings, the
        one that keeps its open fingers and thumb inside the bin)."""
        hammer = self.env.object_poses()["hammer"]
        axis = hammer[:3, 0]
        point = hammer[:3, 3] + axis * (GRIP_X_M[self.multi] + self.rng.uniform(-0.005, 0.005))
        heading = nearest_heading(np.arctan2(axis[1], axis[0]) + np.pi / 2, np.pi, 0.0)
        return top_down(point, self.clearest_heading("right", point, heading, np.pi))

    def clearest_heading(self, arm: str, point: np.ndarray, heading: float, period: float) -> float:
        """For a hand: of the headings `heading` + k `period` within the arm's wrist range
        (MAX_OUT_RAD, MAX_IN_RAD; none there: the nearest to it), the one whose open fingers
        and folded-out thumb stay furthest inside the bin around `point`, up to CLEAR_ENOUGH_M
        (by a wall, one of them would land on its top; of two within 1 cm as clear, or both
        clear enough, the one nearer +x); jaws: `heading`."""
        if not self.multi:
            return heading
        poses = self.env.object_poses()
        bin_ = min(
            (poses[b][:3, 3] for b in ("target_bin", "trash_bin", "start_bin")),
            key=lambda c: np.linalg.norm(c[:2] - point[:2]),
        )
        out = 1.0 if arm == "left" else -1.0  # the sign of a heading that turns the fingers outward
        lo, hi = sorted((out * MAX_OUT_RAD, -out * MAX_IN_RAD))
        headings = heading + period * np.arange(-4, 5)
        outside = np.maximum(lo - headings, headings - hi)
        candidates = headings[outside <= max(0.0, outside.min())]

        def clearance(h: float) -> float:
            tips = top_down(point, h)[:2, :2] @ OPEN_HAND_TIPS_M.T + (point[:2] - bin_[:2])[:, None]
            return float(np.min(BIN_HALF_M - BIN_WALL_M - np.abs(tips)))

        return float(max(candidates, key=lambda h: (min(round(clearance(h), 2), CLEAR_ENOUGH_M), -abs(h))))

    def handover_grip(self) -> np.ndarray:
        """Where the right hand holds the hammer at the hand-over: its middle over
        HANDOVER_XY_M, the handle along +y (head to the left)."""
        x, y = HANDOVER_XY_M
        return np.array([x, y - HAMMER_CENTRE_X_M + GRIP_X_M[self.multi], self.env.task.table_top_z + HANDOVER_Z_M])

    # ------------------------------------------------------------------ left: trash and hammer
    def trash_and_place_script(self) -> ArmScript:
        arm, signals = "left", self.env.subtask_signals
        for _ in range(ATTEMPTS):
            for _ in range(ATTEMPTS):
                if (
                    yield from self.grasp(
                        arm, self.trash_grasp, "grasp_trash", lift="trash", curl=CUBE_CURL[self.multi]
                    )
                ):
                    break
            yield from self.lift_to(arm, CLEAR_Z_M)
            drop = self.env.object_poses()["trash_bin"][:3, 3] + self.jitter(0.02)
            drop[2] = self.env.task.table_top_z + CLEAR_Z_M
            yield from self.move(arm, top_down(drop, heading_of(self.target[arm])))
            yield from self.lift_to(arm, TRASH_DROP_Z_M + CUBE_DZ_M[self.multi])
            yield from self.set_hand(arm, self.open_hand, self.steps(6))
            yield from self.hold(arm, 6)
            yield from self.lift_to(arm, CLEAR_Z_M)
            if signals()["trash_in_bin"]:
                break

        # The hand-over: wait above the hammer's left grasp point, go down, close, and keep
        # holding while the right hand lets go.
        head = HEAD_X_M + HEAD_GRASP_DX_M[self.multi] - GRIP_X_M[self.multi]  # from the right hand's grip
        wait = self.handover_grip() + [0, head, APPROACH_HEIGHT_M]
        yield from self.move(arm, top_down(wait, self.head_heading(np.pi / 2)))
        yield from self.wait_until(
            arm, lambda: self.hammer_at_handover and self.holds("right", "hammer_handed_over"), max_steps=600
        )
        yield from self.hold(arm, self.steps(4))
        for _ in range(ATTEMPTS):
            if (yield from self.grasp(arm, self.head_grasp, "hammer_handed_over", closed_flag=True)):
                break
        yield from self.wait_until(arm, lambda: signals()["hammer_handed_over"], max_steps=60)

        # Into the target bin: the hammer's middle over the bin's centre, handle along y.
        bin_ = self.env.object_poses()["target_bin"][:3, 3]
        hammer = self.env.object_poses()["hammer"]
        hand = self.env.eef_poses()[arm][:3, 3]
        to_middle = hammer[:3, 3] + hammer[:3, 0] * HAMMER_CENTRE_X_M - hand  # from the hand to the hammer's middle
        spot = bin_ - to_middle + self.jitter(0.005)
        spot[2] = self.env.task.table_top_z + CLEAR_Z_M
        yield from self.move(arm, top_down(spot, heading_of(self.target[arm])), speed_scale=0.8)
        hand_over_bottom = hand[2] - (hammer[2, 3] - HANDLE_HALF_M)
        yield from self.lift_to(arm, FLOOR_TOP_M + HAMMER_DROP_M + hand_over_bottom)
        yield from self.hold(arm, 3)
        yield from self.set_hand(arm, self.open_hand, self.steps(6))
        yield from self.lift_to(arm, CLEAR_Z_M)

    def trash_grasp(self) -> np.ndarray:
        """Top-down across two faces of the cube (any quarter turn: `clearest_heading`)."""
        cube = self.env.object_poses()["trash"]
        point = cube[:3, 3] + self.jitter(0.004) + [0, 0, CUBE_DZ_M[self.multi]]
        heading = nearest_heading(np.arctan2(cube[1, 0], cube[0, 0]), np.pi / 2, 0.0)
        return top_down(point, self.clearest_heading("left", point, heading, np.pi / 2))

    def head_heading(self, axis_heading: float) -> float:
        """Hand and jaws close across the head's 6 cm (along the 3 cm axis, a hand's thumb
        came down on the handle and the grasp let the hammer drop). A hand turns its x along
        the hammer toward the head: its thumb, folded out while open, then points past the
        hammer's end, away from the right hand."""
        if self.multi:
            return axis_heading - np.pi / 2
        return nearest_heading(axis_heading + np.pi / 2, np.pi, 0.0)

    def head_grasp(self) -> np.ndarray:
        """Top-down on the hammer's head (see `head_heading`)."""
        hammer = self.env.object_poses()["hammer"]
        axis = hammer[:3, 0]
        point = hammer[:3, 3] + axis * (HEAD_X_M + HEAD_GRASP_DX_M[self.multi])
        point += hammer[:3, 1] * self.rng.uniform(-0.005, 0.005)
        return top_down(point, self.head_heading(float(np.arctan2(axis[1], axis[0]))))

    # ------------------------------------------------------------------ helpers
    @property
    def multi(self) -> bool:
        return self.hand_model.multi_finger
