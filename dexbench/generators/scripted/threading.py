"""Scripted Threading: the right hand holds the tripod's ring up, the left threads the needle.

Right: over the handle bar -> down -> close -> lift (check) -> carry the ring to the meeting
point, turned to face the needle -> hold it there until the needle is through.
Left: over the needle's handle -> down -> close -> lift (check), drawing the needle back along
its rod -> toward where the ring will be -> tip 10 cm, then 4 cm before the ring on its axis
(corrected until it is there) -> through, in short pushes.
Where the ring faces is chosen per episode: the heading (in a range that keeps each hand on its
own side) that turns both wrists least. Where the needle lies right of the tripod (D2), the
hands would cross on the way: the right hand first waits out of the way, the left takes the
needle to a spot high on the left, and only then does the right hand take the tripod; the left
sets off toward the meeting point once the tripod is up. One at a time leaves little of the 400
steps: there the reaches are faster, and a needle that slips out is picked up at once rather
than aimed.

The script is closed-loop, as an oracle may be: each grasp is checked (signal and lift) and
repeated from where the object now lies; a needle that slipped out is picked up again; the ring
and the needle are placed from their measured poses, correcting the hand's target by how far the
held object is from where it should be (a held object sits a little off in the hand, and a
controller tracks its target a little off), until the needle's tip is on the ring's axis to
1.5 mm; a push that caught on the ring backs out and aims again.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.envs.tasks.threading import (
    HANDLE_GRASP_X_M,
    HANDLE_Z_M,
    NEEDLE_TIP_M,
    RING_Z_M,
    THROUGH_M,
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
# Where the hands meet (world, relative to the table centre; z above the table): the ring faces
# the needle at heading `phi` (its axis, toward the side the needle comes from), and the point
# MEET_AHEAD_M toward the needle from the ring is at MEET_XY_M: the hands then stay about as far
# from the robot's middle whichever way the ring faces.
MEET_XY_M = (-0.02, 0.0)
MEET_AHEAD_M = 0.10
MEET_Z_M = 0.24  # ring centre: the tripod's feet 9 cm clear of the table
# The ring faces where both wrists turn least (the tripod's and the needle's turns, squared),
# within this range of headings: the needle then comes from the left hand's side, and the
# tripod's bar points to the right hand's side.
PHI_RANGE_RAD = (np.pi / 4, 8 * np.pi / 9)
RETRACT_M = 0.08  # a lifted needle is drawn back this far along its rod
# A needle lying right of the tripod (the hands must pass each other): the right hand first
# waits at PARK (relative to the table centre; z above the table), out of the needle's way; the
# left hand takes the needle and parks its handle at STAGING, high on the left beyond where the
# tripod's bar can be; only then does the right hand take the tripod.
PARK_M = (-0.05, -0.33, 0.35)
STAGING_M = (-0.10, 0.22, 0.30)
CLEAR_Y_M = 0.10  # the needle's handle is this far left: the right hand may set off
# ... and, there being no time for slow moves, the right hand reaches for the bar and the left
# brings the needle toward the ring this much faster than elsewhere (the hands fetch their
# objects one at a time: 20-40 control steps saved, room to redo a grasp or a push).
CROSSED_SPEED_SCALE = 1.5
PRE_M = 0.04  # the tip waits this far before the ring's plane, on its axis
FAR_PRE_M = 0.10  # ... coming from this far (not across the ring or the other hand)
DEPTH_M = THROUGH_M + 0.015  # ... and ends this far past it
ALIGN_TOL_M = 0.0015  # the tip is on the axis (and at its point) to this
ALIGN_STEPS = 6  # corrections at most before pushing regardless
PUSHES = 2  # the push through the ring, re-aimed this many times
# A hand holds the needle with its rod toward the little finger (the thumb swings in across
# the handle as it closes) unless its wrist would then turn more than this from home (grasping
# or threading): then toward the thumb.
MAX_STRAIN_RAD = np.radians(110)
# Keyed by `Hand.multi_finger`: where the grasp frame goes relative to what it grasps. On the
# needle's handle (grasp frame x, y = closing axis, up): a hand's curling fingers close further
# than its thumb, so a 4 cm handle ends up 2.5 cm from the grasp frame on the thumb's side, and
# the thumb swinging in pushes it 1-3 cm toward the little finger (-x, more on a Panda arm than
# on the humanoid's); the frame goes about as far the other ways (else the needle is dragged
# across the table, and held by two fingers), and as low as the table lets the fingertips go.
# On the bar (along the closing axis, up): a hand holds the thin bar nearer its fingers and a
# little low, so they wrap under it. Jaws centre on both.
NEEDLE_OFFSET_M = {True: (-0.02, 0.025, -0.008), False: (0.0, 0.0, 0.0)}
BAR_OFFSET_M = {True: (-0.01, -0.018), False: (0.0, 0.0)}
# A hand whose closing leaves the needle's handle shallow in it (its centre more than
# SHALLOW_M below the grasp frame: held by the fingertips, it slips out when lifted) opens and
# grasps again with the grasp frame this much further along its x (toward where the thumb pushes
# the handle), up to twice. Keyed by `Hand.multi_finger`: jaws centre on the handle and do not
# check.
SHALLOW_M = 0.007
NEEDLE_SHIFT_M = {True: 0.01, False: 0.0}


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction `a` onto direction `b`."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(np.dot(a, b))
    if sin < 1e-9:
        return np.eye(3)
    return Rotation.from_rotvec(axis / sin * np.arctan2(sin, cos)).as_matrix()


def _yaw(pose: np.ndarray) -> float:
    return float(np.arctan2(pose[1, 0], pose[0, 0]))


def _rod(needle: np.ndarray) -> np.ndarray:
    """The needle's rod direction (toward the tip; the needle's -y)."""
    return -needle[:3, 1]


def _wrap(angle: float) -> float:
    return float(np.angle(np.exp(1j * angle)))


class ThreadingDemonstrator(ScriptedDemonstrator):
    task = "Threading"

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.ring_ready = False
        self.needle_shift = 0.0
        poses = self.env.object_poses()
        self.crossed = bool(poses["needle"][1, 3] < poses["tripod"][1, 3])
        self.tripod_lifted = False
        self.needle_clear = not self.crossed
        rod = _rod(poses["needle"])
        tip_heading = float(np.arctan2(rod[1], rod[0]))
        tripod_yaw = _yaw(poses["tripod"])
        # The heading (in range) that turns the two wrists least.
        candidates = np.linspace(*PHI_RANGE_RAD, 60)
        cost = [_wrap(c + np.pi - tip_heading) ** 2 + _wrap(c - tripod_yaw) ** 2 for c in candidates]
        self.phi = float(candidates[int(np.argmin(cost))]) + self.rng.uniform(-0.05, 0.05)
        self.needle_turn = _wrap(self.phi + np.pi - tip_heading)  # how far the needle turns
        facing = np.array([np.cos(self.phi), np.sin(self.phi), 0.0])
        table = self.env.task.table_top_z
        self.meet = np.array([*MEET_XY_M, table + MEET_Z_M]) - MEET_AHEAD_M * facing + self.jitter(0.01)

    def script(self, arm: str) -> ArmScript:
        return self.tripod_script() if arm == "right" else self.needle_script()

    # ------------------------------------------------------------------ right: the ring
    def tripod_script(self) -> ArmScript:
        arm = "right"
        if self.crossed:
            park = translated(
                self.target[arm], np.array(PARK_M) + [0, 0, self.env.task.table_top_z] - self.target[arm][:3, 3]
            )
            yield from self.move(arm, park)
            yield from self.wait_until(arm, lambda: self.needle_clear, max_steps=250)
        yield from self.turn_toward(arm, self.bar_grasp()[1])
        for _ in range(ATTEMPTS):
            if (yield from self.grasp_tripod(CROSSED_SPEED_SCALE if self.crossed else 1.0)):
                break
        # Up first, then over to the meeting point, turning the ring to face the needle.
        yield from self.move(arm, translated(self.target[arm], [0, 0, MEET_Z_M - RING_Z_M - CHECK_LIFT_M + 0.02]))
        self.tripod_lifted = True
        goal = np.eye(4)
        goal[:3, :3] = Rotation.from_euler("z", self.phi).as_matrix()
        goal[:3, 3] = self.meet - [0, 0, RING_Z_M]
        for k in range(2):
            yield from self.move(
                arm, self.held_goal(arm, "tripod", goal), speed_scale=1.0 if k == 0 else 0.5, settle_steps=self.steps(6)
            )
        self.ring_ready = True
        yield from self.wait_until(arm, lambda: self.env.subtask_signals()["threaded"], max_steps=300)
        yield from self.hold(arm, 20)

    def grasp_tripod(self, speed_scale: float = 1.0) -> ArmScript:
        """Top-down grasp across the handle bar as the tripod stands now (reaching over it at
        `speed_scale`); returns whether it came up with the hand."""
        arm = "right"
        tripod_z = self.env.object_poses()["tripod"][2, 3]
        grasp, _ = self.bar_grasp()
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), self.open_hand, speed_scale=speed_scale)
        yield from self.move(arm, grasp, self.open_hand, speed_scale=0.5, settle_steps=self.steps(5))
        yield from self.set_hand(arm, self.closed_hand, self.steps(10))
        yield from self.hold(arm, 4)
        return (yield from self.lifted_along(arm, "tripod", tripod_z, "grasp_tripod"))

    def lifted_along(self, arm: str, name: str, z_before: float, signal: str) -> ArmScript:
        """Lift the closed hand `CHECK_LIFT_M`; if `name` (at `z_before` before the grasp) came
        along and `signal` holds, the grasp held: True. Otherwise let go, back off above, False."""
        yield from self.move(arm, translated(self.target[arm], [0, 0, CHECK_LIFT_M]), speed_scale=0.5, settle_steps=3)
        lifted = self.env.object_poses()[name][2, 3] - z_before > CHECK_LIFT_M / 3
        if lifted and self.env.subtask_signals()[signal]:
            return True
        yield from self.set_hand(arm, self.open_hand, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        return False

    def bar_grasp(self) -> tuple[np.ndarray, float]:
        """The grasp frame on the handle bar (closing across it) and its heading: of the two,
        the one that ends nearer the hand's home heading once the ring is turned to the meeting."""
        tripod = self.env.object_poses()["tripod"]
        turn = _wrap(self.phi - _yaw(tripod))
        across = np.arctan2(tripod[1, 1], tripod[0, 1])
        heading = nearest_heading(across, np.pi, heading_of(self.home["right"]) - turn)
        closing = np.array([np.cos(heading), np.sin(heading), 0.0])
        dx, dz = BAR_OFFSET_M[self.hand_model.multi_finger]
        point = (
            tripod[:3, 3]
            + tripod[:3, 0] * (HANDLE_GRASP_X_M + self.rng.uniform(-0.01, 0.01))
            + tripod[:3, 2] * HANDLE_Z_M
            + dx * closing
            + [0, 0, dz]
        )
        return top_down(point, heading), heading

    # ------------------------------------------------------------------ left: the needle
    def needle_script(self) -> ArmScript:
        arm = "left"
        signals = self.env.subtask_signals
        yield from self.turn_toward(arm, self.needle_grasp()[1])
        for _ in range(ATTEMPTS):
            for _ in range(ATTEMPTS):
                if (yield from self.grasp_needle()):
                    break
            # Up, drawing the needle back along its rod: its tip may point at the robot's body.
            table = self.env.task.table_top_z
            back = -_rod(self.env.object_poses()["needle"]) * [1, 1, 0]
            back *= RETRACT_M / max(np.linalg.norm(back), 1e-9)
            up = table + MEET_Z_M - self.target[arm][2, 3]
            yield from self.move(arm, translated(self.target[arm], back + [0, 0, up]))
            if not self.needle_clear:
                # To the staging spot; the right hand may set off once the needle is past the middle.
                staging = np.array(STAGING_M) + [0, 0, table] - self.env.object_poses()["needle"][:3, 3]
                for step in self.move(arm, translated(self.target[arm], staging), speed_scale=1.3):
                    self.needle_clear |= self.env.object_poses()["needle"][1, 3] > CLEAR_Y_M
                    yield step
                self.needle_clear = True
                # The tripod passes under on its way right: wait until it is up (above the needle's
                # way), then set off while it travels to the meeting point.
                yield from self.wait_until(arm, lambda: self.tripod_lifted, max_steps=250)
            # Toward where the ring will be, while the right hand brings it.
            facing = np.array([np.cos(self.phi), np.sin(self.phi), 0.0])
            yield from self.move(
                arm,
                self.needle_goal(-FAR_PRE_M, (self.meet, facing))[0],
                speed_scale=0.6 * (CROSSED_SPEED_SCALE if self.crossed else 1.0),
            )
            yield from self.wait_until(arm, lambda: self.ring_ready, max_steps=300)
            for _ in range(ATTEMPTS):
                if not self.holds_needle():
                    break
                yield from self.thread()
                if signals()["threaded"] or not self.holds_needle():
                    break
                # Caught on the ring: back out to before it and aim again.
                yield from self.move(arm, self.needle_goal(-FAR_PRE_M)[0], speed_scale=0.5)
            if signals()["threaded"] or self.holds_needle():
                break
            # The needle slipped out of the hand: open, and pick it up again where it fell.
            yield from self.set_hand(arm, self.open_hand, self.steps(6))
            yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
            yield from self.turn_toward(arm, self.needle_grasp()[1])
        yield from self.wait_until(arm, lambda: signals()["threaded"], max_steps=40)
        yield from self.hold(arm, 20)

    def thread(self) -> ArmScript:
        """The tip onto the ring's axis from further out, then just before the ring, corrected
        until it is there; then through, in short pushes each re-aimed from where the tip and
        the ring now are."""
        arm = "left"
        yield from self.move(arm, self.needle_goal(-FAR_PRE_M)[0])
        for k in range(ALIGN_STEPS):
            if self.crossed and not self.holds_needle():
                return  # slipped out: no time to aim a needle that is not there (D2)
            goal, error = self.needle_goal(-PRE_M)
            if k > 0 and error < ALIGN_TOL_M:
                break
            yield from self.move(arm, goal, speed_scale=0.6 if k == 0 else 0.4, settle_steps=self.steps(4))
        for k in range(1, PUSHES + 1):
            if self.crossed and not self.holds_needle():
                return
            goal, _ = self.needle_goal(-PRE_M + (PRE_M + DEPTH_M) * k / PUSHES)
            yield from self.move(arm, goal, speed_scale=0.3, settle_steps=self.steps(3))

    def holds_needle(self) -> bool:
        """The needle is in the hand (or at least off the table)."""
        lifted = self.env.task.height_above_table("needle") > 0.05
        return bool(self.env.subtask_signals()["grasp_needle"] or lifted)

    def grasp_needle(self) -> ArmScript:
        """Top-down grasp across the needle's handle as it lies now; returns whether it came up
        with the hand."""
        arm = "left"
        needle_z = self.env.object_poses()["needle"][2, 3]
        grasp, _ = self.needle_grasp()
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), self.open_hand)
        yield from self.move(arm, grasp, self.open_hand, speed_scale=0.5, settle_steps=self.steps(5))
        yield from self.set_hand(arm, self.closed_hand, self.steps(10))
        yield from self.hold(arm, 4)
        shift = NEEDLE_SHIFT_M[self.hand_model.multi_finger]
        held = np.linalg.inv(self.env.eef_poses()[arm]) @ self.env.object_poses()["needle"]
        if shift and held[2, 3] > SHALLOW_M and self.needle_shift < 2 * shift - 1e-9:
            # Held by the fingertips: open and grasp again, further along the hand's x.
            self.needle_shift += shift
            yield from self.set_hand(arm, self.open_hand, self.steps(6))
            yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
            return False
        return (yield from self.lifted_along(arm, "needle", needle_z, "grasp_needle"))

    def needle_grasp(self) -> tuple[np.ndarray, float]:
        """The grasp frame on the needle's handle (closing across the rod) and its heading. A
        hand holds it with the rod toward its little finger (away from the thumb, which swings
        in as it closes); jaws take whichever heading ends nearer their home heading once the
        needle is turned to the ring."""
        needle = self.env.object_poses()["needle"]
        rod = _rod(needle)
        tip_heading = float(np.arctan2(rod[1], rod[0]))
        home = heading_of(self.home["left"])

        def strain(h: float) -> float:  # the wrist's turn from home, grasping or threading
            return max(abs(_wrap(h - home)), abs(_wrap(h + self.needle_turn - home)))

        if self.hand_model.multi_finger:
            heading = _wrap(tip_heading + np.pi / 2)
            if strain(heading) > MAX_STRAIN_RAD and strain(heading + np.pi) < strain(heading):
                heading = _wrap(heading + np.pi)  # the rod toward the thumb, rather than out of reach
        else:
            heading = nearest_heading(tip_heading + np.pi / 2, np.pi, home - self.needle_turn)
        pose = top_down(needle[:3, 3], heading)
        dx, dy, dz = NEEDLE_OFFSET_M[self.hand_model.multi_finger]
        offset = pose[:3, :3] @ [dx, dy - self.needle_shift, 0.0] + [0, 0, dz] + rod * self.rng.uniform(-0.008, 0.008)
        return translated(pose, offset), heading

    def needle_goal(self, depth: float, ring: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, float]:
        """The left hand's target that puts the needle's tip on the ring's axis `depth` past
        its plane (negative: before it), the rod along the axis; and how far the tip is now from
        that point. The ring's (centre, axis) as it is now, or as given."""
        centre, axis = self.env.task.ring_frame() if ring is None else ring
        tip_goal = centre - axis * depth  # the ring's axis points to the side the needle comes from
        needle = self.env.object_poses()["needle"]
        goal = np.eye(4)
        goal[:3, :3] = _rotation_between(_rod(needle), -axis) @ needle[:3, :3]
        goal[:3, 3] = tip_goal - _rod(goal) * NEEDLE_TIP_M
        tip = needle[:3, 3] + _rod(needle) * NEEDLE_TIP_M
        return self.held_goal("left", "needle", goal), float(np.linalg.norm(tip - tip_goal))

    # ------------------------------------------------------------------ shared
    def held_goal(self, arm: str, name: str, object_goal: np.ndarray) -> np.ndarray:
        """The hand target that brings the held object `name` to `object_goal`: the object's
        pose relative to the current target (how it sits in the hand, and how far the hand is
        off its target) carried over to the goal."""
        relative = np.linalg.inv(self.target[arm]) @ self.env.object_poses()[name]
        return object_goal @ np.linalg.inv(relative)
