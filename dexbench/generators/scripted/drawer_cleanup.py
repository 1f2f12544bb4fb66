"""Scripted DrawerCleanup: the right hand opens the drawer, the left puts the mug in, the right
closes the drawer.

Right: over the handle -> down -> close across the bar -> pull along the slide to fully open ->
let go -> up and aside (out of the left hand's way) -> wait until the mug is in and the left
hand is clear -> grasp the handle again -> push the drawer shut -> let go -> up.
Left: over the mug (closing axis along the drawer's width, so the hand fits through the opening)
-> wait until the drawer is open -> down -> close -> up -> over the open part of the drawer ->
down -> open -> up and away.

The script is closed-loop, as an oracle may be: it checks each grasp (the mug, the handle) and
the drawer's opening, and repeats a phase (re-planned from where things now are) that did not
take.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.envs.tasks.drawer_cleanup import (
    CAB_DEPTH_M,
    FLOOR_TOP_M,
    HANDLE_X_M,
    HANDLE_Z_M,
    OPEN_MAX_M,
    OPENED_M,
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
ATTEMPTS = 3  # tries per grasp, pull or push before going on regardless
MUG_GRASP_Z_M = 0.055  # grasp frame above the mug's base: the palm just clears the rim
# Hover this far from the mug's grasp (along the approach) before going in: high enough that
# a humanoid's waiting left arm does not lean its waist (and the right hand) over.
MUG_APPROACH_M = 0.12
# A mug nearer the robot than NEAR_X_M (world x) is grasped with the wrist leaning away from
# the robot, up to LEAN_RAD LEAN_RAMP_M further in, and LEAN_RAISE_M higher up the mug.
NEAR_X_M = -0.20
LEAN_RAMP_M = 0.10
LEAN_RAD = 0.45
LEAN_RAISE_M = 0.01
# Keyed by `Hand.multi_finger`: how far closed a hand is when it lets go of the mug in the
# drawer (0 open, 1 closed).
LET_GO_FRACTION = {True: 0.45, False: 0.0}
MAX_TURN_RAD = np.radians(115)  # a wrist turns this far from home without winding up
CHECK_LIFT_M = 0.03  # lift a grasped mug this far, then check it came along
# The mug's base this high above the table while carried: over the drawer's handle.
CARRY_BASE_Z_M = HANDLE_Z_M + 0.05
RELEASE_GAP_M = 0.008  # let go of the mug with its base this far above the drawer's floor
# Where the mug goes: the middle of the part of the drawer that is out of the carcass when fully
# open (drawer frame, x from the closed drawer's front plate inner face).
MUG_SPOT_X_M = -CAB_DEPTH_M / 2 - 0.001 + 0.066
HANDLE_GRASP_DZ_M = 0.01  # grasp the handle this far over the bar's axis (see `handle_grasp`)
OPEN_ENOUGH_M = 0.12  # a drawer let go of less open than this is pulled again (the mug needs room)
PULL_OVERSHOOT_M = 0.03  # pull the handle target this far past fully open (the slide stops it)
PUSH_OVERSHOOT_M = 0.005  # push this far past closed
CLEAR_UP_M = 0.10  # after letting go of the handle: up this far ...
CLEAR_ASIDE_M = 0.13  # ... and this far to the right (world -y)


class DrawerCleanupDemonstrator(ScriptedDemonstrator):
    task = "DrawerCleanup"

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.left_clear = False

    def script(self, arm: str) -> ArmScript:
        return self.open_close_script() if arm == "right" else self.mug_script()

    # ------------------------------------------------------------------ right: the drawer
    def open_close_script(self) -> ArmScript:
        arm, env = "right", self.env
        signals = env.subtask_signals
        yield from self.turn_toward(arm, self.handle_heading())
        for _ in range(ATTEMPTS):
            for _ in range(ATTEMPTS):
                if (yield from self.grasp_handle()):
                    break
            yield from self.pull()
            if self.opening() > OPENED_M + 0.01:
                # Let go: up a centimetre first (a hand sagging under the pull has its fingers
                # under the bar, and uncurling there they would push the drawer back), a
                # hand's thumb first (opening together, the thumb would push the drawer back
                # before the fingers are off the bar).
                yield from self.move(arm, translated(self.target[arm], [0, 0, 0.01]), settle_steps=2)
                yield from self.set_hand(arm, self.thumb_released(), self.steps(5))
            yield from self.set_hand(arm, self.open_hand, self.steps(8))
            yield from self.hold(arm, 3)
            yield from self.move(arm, translated(self.target[arm], [0, 0, CLEAR_UP_M]))
            if self.opening() > OPEN_ENOUGH_M:
                break
            # The hand slipped off, or letting go pushed the drawer back: pull again.
        # Aside: the left hand needs the space over the drawer.
        yield from self.move(arm, translated(self.target[arm], np.array([0, -CLEAR_ASIDE_M, 0.02]) + self.jitter(0.01)))

        yield from self.wait_until(arm, lambda: self.left_clear and signals()["mug_in_drawer"], max_steps=450)
        for _ in range(ATTEMPTS):
            yield from self.push()
            if self.opening() < 0.005:
                break
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))

    def grasp_handle(self) -> ArmScript:
        """Top-down grasp across the handle's bar as it is now; returns whether it holds."""
        arm = "right"
        grasp = self.handle_grasp()
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), self.open_hand)
        grasp = self.handle_grasp()  # again: the drawer may have moved
        yield from self.move(arm, grasp, self.open_hand, speed_scale=0.7, settle_steps=self.steps(5))
        yield from self.set_hand(arm, self.closed_hand, self.steps(10))
        yield from self.hold(arm, 4)
        if self.env.subtask_signals()["grasp_handle"]:
            return True
        yield from self.set_hand(arm, self.open_hand, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        return False

    def pull(self) -> ArmScript:
        """Pull the held handle along the slide to fully open (a little past: the slide stops it)."""
        arm = "right"
        to_go = OPEN_MAX_M - self.opening() + PULL_OVERSHOOT_M
        yield from self.move(
            arm, translated(self.target[arm], -to_go * self.cabinet_axis()), speed_scale=0.6, settle_steps=self.steps(4)
        )

    def push(self) -> ArmScript:
        """Grasp the handle again and push the drawer shut (a little past: the slide stops it).
        Pushing from in front of the handle with a fist would need the hand ~8 cm nearer the
        robot than the handle, where a Panda arm cannot hold a hand level."""
        arm = "right"
        for _ in range(ATTEMPTS):
            if (yield from self.grasp_handle()):
                break
        stroke = self.opening() + PUSH_OVERSHOOT_M
        yield from self.move(
            arm, translated(self.target[arm], stroke * self.cabinet_axis()), speed_scale=0.8, settle_steps=self.steps(6)
        )
        yield from self.set_hand(arm, self.open_hand, self.steps(6))

    # ------------------------------------------------------------------ left: the mug
    def mug_script(self) -> ArmScript:
        arm, env = "left", self.env
        signals = env.subtask_signals
        heading = self.mug_heading()
        yield from self.turn_toward(arm, heading)
        grasp = self.mug_grasp(heading)
        yield from self.move(arm, translated(grasp, -grasp[:3, 2] * MUG_APPROACH_M + self.jitter()), self.open_hand)
        yield from self.wait_until(arm, lambda: signals()["drawer_open"], max_steps=450)
        for _ in range(ATTEMPTS):
            for _ in range(ATTEMPTS):
                if (yield from self.grasp_mug(heading)):
                    break
            yield from self.place_mug()
            if signals()["mug_in_drawer"]:
                break
        # Up out of the drawer, then back toward the left arm's home.
        carry_z = env.task.table_top_z + CARRY_BASE_Z_M + MUG_GRASP_Z_M
        yield from self.move(arm, translated(self.target[arm], [0, 0, carry_z - self.target[arm][2, 3]]))
        self.left_clear = True  # above the handle: the right hand may come for it
        away = self.target[arm].copy()
        away[:2, 3] = self.home[arm][:2, 3] + [0.0, 0.05]
        yield from self.move(arm, away)
        yield from self.hold(arm, 10)

    def grasp_mug(self, heading: float) -> ArmScript:
        """Grasp the mug as it stands now (from above, the wrist leaning away from the robot
        where the mug is near it); returns whether it came up with the hand."""
        arm = "left"
        mug_z = self.env.object_poses()["mug"][2, 3]
        grasp = self.mug_grasp(heading)
        approach = -grasp[:3, 2] * MUG_APPROACH_M
        yield from self.move(arm, translated(grasp, approach), self.open_hand)
        yield from self.move(arm, grasp, self.open_hand, speed_scale=0.7, settle_steps=self.steps(5))
        yield from self.set_hand(arm, self.closed_hand, self.steps(10))
        yield from self.hold(arm, 4)
        yield from self.move(arm, translated(self.target[arm], [0, 0, CHECK_LIFT_M]), speed_scale=0.5, settle_steps=2)
        lifted = self.env.object_poses()["mug"][2, 3] - mug_z > CHECK_LIFT_M / 3
        if lifted and self.env.subtask_signals()["grasp_mug"]:
            return True
        yield from self.set_hand(arm, self.open_hand, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], approach))
        return False

    def place_mug(self) -> ArmScript:
        """Carry the mug over the open part of the drawer, lower it in and let go."""
        arm = "left"
        table = self.env.task.table_top_z
        yield from self.move(
            arm, translated(self.target[arm], [0, 0, table + CARRY_BASE_Z_M + MUG_GRASP_Z_M - self.target[arm][2, 3]])
        )
        jitter = self.jitter(0.006)
        spot = self.mug_spot() + jitter
        heading = heading_of(self.target[arm])
        yield from self.move(arm, top_down([spot[0], spot[1], table + CARRY_BASE_Z_M + MUG_GRASP_Z_M], heading))
        spot = self.mug_spot() + jitter  # again: the drawer may have moved
        release = top_down(spot + [0, 0, RELEASE_GAP_M + MUG_GRASP_Z_M], heading)
        yield from self.move(arm, release, speed_scale=0.7, settle_steps=self.steps(4))
        # A hand lets go only halfway, lifts its fingers out and then opens: opening in the
        # drawer, its straightening fingers would swing into the drawer's side wall.
        let_go = self.open_hand + LET_GO_FRACTION[self.hand_model.multi_finger] * (self.closed_hand - self.open_hand)
        yield from self.set_hand(arm, let_go, self.steps(6))
        yield from self.hold(arm, 2)
        yield from self.move(arm, translated(self.target[arm], [0, 0, 0.06]), speed_scale=0.6)
        yield from self.set_hand(arm, self.open_hand, self.steps(4))

    # ------------------------------------------------------------------ geometry
    def opening(self) -> float:
        return self.env.task.joint_position("drawer_slide")

    def cabinet_axis(self) -> np.ndarray:
        """The cabinet's x axis on the table: into the cabinet (the drawer opens along minus it)."""
        axis = self.env.object_poses()["cabinet"][:3, 0].copy()
        axis[2] = 0.0
        return axis / np.linalg.norm(axis)

    def cabinet_yaw(self) -> float:
        axis = self.cabinet_axis()
        return float(np.arctan2(axis[1], axis[0]))

    def handle_position(self) -> np.ndarray:
        """The handle bar's centre (world), where the drawer is now."""
        return (self.env.object_poses()["drawer"] @ np.array([HANDLE_X_M, 0.0, HANDLE_Z_M, 1.0]))[:3]

    def handle_heading(self) -> float:
        """Closing axis across the bar: a hand's fingers point into the cabinet (they curl behind
        the bar and pull on it); jaws take whichever of the two headings is nearer."""
        if self.hand_model.multi_finger:
            return nearest_heading(self.cabinet_yaw(), 2 * np.pi, 0.0)
        return nearest_heading(self.cabinet_yaw(), np.pi, heading_of(self.target["right"]))

    def handle_grasp(self) -> np.ndarray:
        """The grasp frame a centimetre over the bar's axis, anywhere along its middle 2 cm. A
        hand there curls its fingers behind the bar rather than under it: closing under it
        drags an arm's hand down, and uncurling from under it pushes the drawer back."""
        heading = self.handle_heading()
        along_bar = np.array([-np.sin(heading), np.cos(heading), 0.0])
        position = self.handle_position() + along_bar * self.rng.uniform(-0.01, 0.01) + [0, 0, HANDLE_GRASP_DZ_M]
        return top_down(position, heading)

    def mug_heading(self) -> float:
        """The mug is round: grasp it with the closing axis along the drawer's width (as it goes
        in). Of the two such headings, the one the wrist reaches from home without a half turn;
        if both are (a wrist that starts across them), the one whose fingers point away from
        the hand's home (the forearm then does not fold over the mug)."""
        home = self.home["left"]
        mug = self.env.object_poses()["mug"][:3, 3]
        candidates = [nearest_heading(self.cabinet_yaw() + np.pi / 2, np.pi, heading_of(home))]
        candidates.append(candidates[0] + np.pi)
        reachable = [h for h in candidates if abs(np.angle(np.exp(1j * (h - heading_of(home))))) < MAX_TURN_RAD]
        if len(reachable) == 1:
            return reachable[0]
        away = mug[:2] - home[:2, 3]
        return max(candidates, key=lambda h: np.cos(h) * away[0] + np.sin(h) * away[1])

    def mug_grasp(self, heading: float) -> np.ndarray:
        """The grasp frame on the mug: top-down, or leaning (about the closing axis) with the
        wrist away from the robot for a mug near it, where an arm reaching straight down would
        have to fold into its base; a leaning hand takes the mug higher, its palm clear of the rim."""
        mug = self.env.object_poses()["mug"][:3, 3]
        lean = LEAN_RAD * float(np.clip((NEAR_X_M - mug[0]) / LEAN_RAMP_M, 0.0, 1.0))
        pose = top_down(mug + [0, 0, MUG_GRASP_Z_M + LEAN_RAISE_M * lean / LEAN_RAD], heading)
        for sign in (1.0, -1.0):
            rotation = pose[:3, :3] @ Rotation.from_euler("y", sign * lean).as_matrix()
            if rotation[0, 2] <= 1e-9:  # the approach points back toward the robot
                break
        pose[:3, :3] = rotation
        return pose

    def mug_spot(self) -> np.ndarray:
        """Where the mug's base goes: on the drawer's floor, in the open part (world)."""
        drawer = self.env.object_poses()["drawer"]
        return (drawer @ np.array([MUG_SPOT_X_M, 0.0, FLOOR_TOP_M, 1.0]))[:3]

    def thumb_released(self) -> np.ndarray:
        """The closed hand with its thumb open (the closed hand where there is no thumb)."""
        command = self.closed_hand.copy()
        thumb = [i for i, name in enumerate(self.hand_model.command_names) if name.startswith("thumb")]
        command[thumb] = self.open_hand[thumb]
        return command
