"""Scripted BoxCleanup: both hands grasp the lid's bars, lift it together and set it on the box.

Per arm: above the bar on its side -> down -> wait for the other hand -> close together (again
if the grasp did not take) -> carry in lockstep -> let go -> slide off the bar -> up.

The carry is planned once, for both arms, as a path of the lid: a 3 cm test lift and a pause,
up until the plug clears the box's rim, over the box turning to the box's heading, down to
3.5 cm over the rim, onto the rim. Each hand's target is the lid's planned pose times the
hand's pose in the lid's frame when the carry began, so the two hands move as one rigid body
and never pull the lid apart; both arms run the plan on the same control steps.

The script is closed-loop: after the test lift the lid must have come up with its bars level
(else both hands let go and grasp again); over the rim it measures where the lid really is (it
lags, slips, and tips up to 30 deg about the bars as fingers roll them) and, twice, commands
the pose that brings it level, turned and centred over the box before it goes down.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.envs.embodiments.base import ARMS
from dexbench.envs.tasks.box_cleanup import BOX_HEIGHT_M, HANDLE_END_Y_M, HANDLE_Y_M, HANDLE_Z_M, PLUG_HEIGHT_M
from dexbench.generators.scripted.base import (
    ArmScript,
    ScriptedDemonstrator,
    heading_of,
    nearest_heading,
    top_down,
    translated,
)

APPROACH_HEIGHT_M = 0.10  # hover this far above a grasp before going down
CLEAR_M = 0.05  # the plug's bottom this far above the box's rim while carrying
# Pause with the plug's bottom this far above the rim, then correct (a lid tipped 15 deg in
# the hands clears the rim; 1.5 cm above, its low edge came down on the rim while correcting).
ABOVE_RIM_M = 0.035
MAX_CORRECTION_RAD = np.radians(25)  # the most one round turns the commanded lid
CORRECTIONS = 2  # rounds of measuring the lid's pose and taking its error out
PRESS_M = 0.008  # the last target is this far below resting: the lid settles on the rim
DESCENT_SPEED_SCALE = 0.4  # the last few centimetres onto the rim
LIFT_SPEED_SCALE = 0.8  # carry slower than free moves: the lid hangs in two hands
CLOSE_STEPS = 10  # both hands close over the same steps
ATTEMPTS = 3  # tries per grasp before going on regardless
CARRY_ATTEMPTS = 2  # grasp-and-carry tries: again if a hand lost its bar in the test lift
TEST_LIFT_M = 0.03  # lift this far, pause, and check both hands came along
MAX_TEST_TILT_RAD = np.radians(12)  # bars tipped more than this in the test lift: not held by both
# Letting go, the hand slides along the bar until its centre is this far past the bar's end: a
# hand's half width along the bar (an open hand's thumb reaches 5 cm from its centre), a jaw's.
CLEAR_BAR_END_M = {True: 0.06, False: 0.03}  # keyed by hand.multi_finger
SIDE = {"right": -1.0, "left": 1.0}  # world y side of each arm


def _min_jerk(s: float) -> float:
    return s * s * s * (10 - 15 * s + 6 * s * s)


def _lid_pose(position: np.ndarray, yaw: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_euler("z", yaw).as_matrix()
    pose[:3, 3] = position
    return pose


def _blend(a: np.ndarray, b: np.ndarray, s: float) -> np.ndarray:
    """The pose a fraction s of the way from a to b (positions linear, rotations slerped)."""
    out = np.eye(4)
    out[:3, 3] = a[:3, 3] + s * (b[:3, 3] - a[:3, 3])
    delta = Rotation.from_matrix(b[:3, :3] @ a[:3, :3].T).as_rotvec()
    out[:3, :3] = Rotation.from_rotvec(s * delta).as_matrix() @ a[:3, :3]
    return out


def _yaw_of(pose: np.ndarray) -> float:
    return float(np.arctan2(pose[1, 0], pose[0, 0]))


class BoxCleanupDemonstrator(ScriptedDemonstrator):
    task = "BoxCleanup"

    def reset(self, seed: int | None = None) -> None:
        self.t = 0  # control steps so far: both arms run the carry on the same steps
        # What the two arms share, per try of grasp-and-carry: which hands are over their bars
        # (ready to close together), which hold their bars (ready to carry), the carry plan.
        self.tries: list[dict] = []
        super().reset(seed)

    def shared(self, attempt: int) -> dict:
        while len(self.tries) <= attempt:
            self.tries.append({"at_bar": set(), "ready": set(), "carry": None})
        return self.tries[attempt]

    def act(self, obs=None) -> np.ndarray:
        action = super().act(obs)
        self.t += 1
        return action

    def script(self, arm: str) -> ArmScript:
        closed = self.closed_hand
        for attempt in range(CARRY_ATTEMPTS):
            shared = self.shared(attempt)
            # 1. Grasp the bar on this arm's side (again, from where the lid now is, if it missed).
            for _ in range(ATTEMPTS):
                if (yield from self.grasp_bar(arm, shared["at_bar"])):
                    break
            # 2. Wait for the other hand; the first arm through plans the carry for both.
            shared["ready"].add(arm)
            yield from self.wait_until(arm, lambda shared=shared: shared["ready"] == set(ARMS))
            if shared["carry"] is None:
                shared["carry"] = self.plan_carry()
            carry = shared["carry"]
            yield from self.wait_until(arm, lambda carry=carry: self.t >= carry["start"])
            # 3. Carry in lockstep: this hand's target is the planned lid pose times its grip.
            #    After a short test lift, both hands must still hold their bars; if not, both
            #    let go and grasp again.
            grip = np.linalg.inv(carry["lid"]) @ self.target[arm]
            for k in range(carry["length"]):
                if k == carry["check"] and not self.carry_holds(carry):
                    break
                yield self.planned_lid(carry, k) @ grip, closed
            else:
                break
            yield from self.set_hand(arm, self.open_hand, self.steps(6))
            yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        yield from self.hold(arm, self.steps(6), closed)
        # 4. Let go and move away.
        yield from self.let_go(arm)
        yield from self.hold(arm, 10)

    def let_go(self, arm: str) -> ArmScript:
        """Open the hand, turn the wrist back to straight down (a hand that tipped its wrist to
        hold the lid level; open, the fingers go round the bar), slide along the bar past its
        outer end and rise. An open hand's thumb stays curled under the bar: straight up, it
        lifted the lid off the box again."""
        yield from self.set_hand(arm, self.open_hand, self.steps(10))
        yield from self.hold(arm, 3)
        yield from self.move(arm, top_down(self.target[arm][:3, 3], heading_of(self.target[arm])), speed_scale=0.5)
        yield from self.move(
            arm, translated(self.target[arm], self.outward(arm) * self.slide_off(arm)), speed_scale=0.5
        )
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]), speed_scale=0.5)

    def carry_holds(self, carry: dict) -> bool:
        """Whether both hands still hold the lid after the test lift: it came up, and its bars
        are level (a lid that one hand lost hangs from the other, its bars' axis tipped; held
        by both it may only turn about that axis, as fingers roll the bars). Decided once, by the first arm to
        ask, so both arms act on the same answer. (Not from the grasp signals: a hand holding a
        bar up can touch it with its fingers only, which the signal does not count as a grasp.)"""
        if "holds" not in carry:
            lid = self.env.object_poses()["lid"]
            lifted = lid[2, 3] - carry["lid"][2, 3] > TEST_LIFT_M / 2
            carry["holds"] = bool(lifted and abs(lid[2, 1]) < np.sin(MAX_TEST_TILT_RAD))
        return carry["holds"]

    # ------------------------------------------------------------------ phases
    def grasp_bar(self, arm: str, at_bar: set[str]) -> ArmScript:
        """Top-down grasp across the bar on this arm's side; returns whether the hand holds it."""
        opened, closed = self.open_hand, self.closed_hand
        grasp = self.bar_grasp(arm)
        yield from self.turn_toward(arm, float(np.arctan2(grasp[1, 1], grasp[0, 1])))
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), opened)
        grasp = self.bar_grasp(arm)  # again: the other hand may have nudged the lid
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), opened, settle_steps=2)
        yield from self.move(arm, grasp, opened, speed_scale=0.5, settle_steps=self.steps(6))
        # Close together: a hand closing round its bar pulls it up to the palm, and one hand
        # closing first tipped the lid under the other.
        at_bar.add(arm)
        yield from self.wait_until(arm, lambda: at_bar == set(ARMS), max_steps=60)
        yield from self.set_hand(arm, closed, CLOSE_STEPS)
        yield from self.hold(arm, 6)
        if self.env.subtask_signals()[f"grasp_lid_{arm}"]:
            return True
        yield from self.set_hand(arm, opened, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        return False

    def plan_carry(self) -> dict:
        """The lid's path from where it lies now onto the box, as knots the steps interpolate."""
        poses = self.env.object_poses()
        lid, box = poses["lid"], poses["box"]
        lid_yaw = _yaw_of(lid)
        # The lid is the same lid a quarter turn on: turn it the least way to the box's heading.
        goal_yaw = nearest_heading(_yaw_of(box), np.pi / 2, lid_yaw)
        rim = box[2, 3] + BOX_HEIGHT_M
        rest_z = rim - PLUG_HEIGHT_M  # the lid's origin (the plug's bottom) when it rests on the rim
        high = rim + CLEAR_M
        goal = box[:3, 3] + np.append(self.jitter(0.004)[:2], 0.0)
        knots = [  # (position, yaw, speed scale)
            (lid[:3, 3], lid_yaw, 1.0),
            (lid[:3, 3] + [0, 0, TEST_LIFT_M], lid_yaw, 0.3),  # the test lift, then a pause
            (lid[:3, 3] + [0, 0, TEST_LIFT_M], lid_yaw, 1.0),
            (np.array([*lid[:2, 3], high]), lid_yaw, LIFT_SPEED_SCALE),
            (np.array([*goal[:2], high]), goal_yaw, LIFT_SPEED_SCALE),
            (np.array([*goal[:2], rim + ABOVE_RIM_M]), goal_yaw, LIFT_SPEED_SCALE),
        ]
        segments, start_step = [], 0
        for (p0, y0, _), (p1, y1, scale) in zip(knots, knots[1:]):
            duration = max(np.linalg.norm(p1 - p0) / (self.speed * scale), abs(y1 - y0) / 0.8, 0.3)
            n = int(np.ceil(duration / 0.05))
            segments.append((start_step, n, p0, y0, p1, y1))
            start_step += n
        settle, shift = self.steps(6), self.steps(8)
        rounds_start = start_step + settle
        descent_start = rounds_start + CORRECTIONS * (shift + settle)
        down = int(np.ceil((knots[-1][0][2] - rest_z + PRESS_M) / (self.speed * DESCENT_SPEED_SCALE) / 0.05))
        return {
            "start": self.t + 1,
            "check": segments[1][0] + segments[1][1],
            "lid": _lid_pose(lid[:3, 3], lid_yaw),
            "segments": segments,
            "hover": (knots[-1][0], goal_yaw),
            "rest_z": rest_z - PRESS_M,
            "rounds_start": rounds_start,
            "round_steps": shift + settle,
            "shift": shift,
            "descent_start": descent_start,
            "down": down,
            "corrections": [_lid_pose(knots[-1][0], goal_yaw)],
            "length": descent_start + down,
        }

    def planned_lid(self, c: dict, k: int) -> np.ndarray:
        """The lid's planned pose on step k of the carry `c`."""
        for start, n, p0, y0, p1, y1 in c["segments"]:
            if k < start + n:
                s = _min_jerk((k - start + 1) / n)
                return _lid_pose(p0 + s * (p1 - p0), y0 + s * (y1 - y0))
        hover = _lid_pose(*c["hover"])
        done = c["corrections"]  # the commanded lid pose at the hover, after each round
        if k < c["rounds_start"]:
            return hover
        if k < c["descent_start"]:
            # Closed loop above the rim: the lid sits in the hands a little off from where the
            # plan has it (it lags, slips, and tips about the bars); measure it, and command
            # the pose that brings it level, turned to the box, over the box's centre.
            i, j = divmod(k - c["rounds_start"], c["round_steps"])
            if len(done) == i + 1:
                lid = self.env.object_poses()["lid"]
                new = hover @ np.linalg.inv(lid) @ done[-1]
                turn = Rotation.from_matrix(new[:3, :3] @ done[-1][:3, :3].T).as_rotvec()
                angle = np.linalg.norm(turn)
                if angle > MAX_CORRECTION_RAD:  # a bad measurement must not wrench the wrists
                    new[:3, :3] = Rotation.from_rotvec(turn * MAX_CORRECTION_RAD / angle).as_matrix() @ done[-1][:3, :3]
                done.append(new)
            return _blend(done[i], done[i + 1], _min_jerk(min(1.0, (j + 1) / c["shift"])))
        s = _min_jerk(min(1.0, (k - c["descent_start"] + 1) / c["down"]))
        return translated(done[-1], [0.0, 0.0, s * (c["rest_z"] - hover[2, 3])])

    # ------------------------------------------------------------------ geometry
    def slide_off(self, arm: str) -> float:
        """How far this hand has to slide outward along its bar to clear the bar's end (the
        lid may have shifted in the hand since the grasp: measured, not planned)."""
        lid = self.env.object_poses()["lid"]
        along = float(np.dot(self.target[arm][:3, 3] - lid[:3, 3], self.outward(arm)))
        return max(0.0, HANDLE_END_Y_M + CLEAR_BAR_END_M[self.hand_model.multi_finger] - along)

    def outward(self, arm: str) -> np.ndarray:
        """The lid's in-plane axis pointing to this arm's side (along the bar it holds)."""
        lid = self.env.object_poses()["lid"]
        axis = np.array([lid[0, 1], lid[1, 1], 0.0]) / max(1e-9, np.linalg.norm(lid[:2, 1]))
        return axis if axis[1] * SIDE[arm] > 0 else -axis

    def bar_grasp(self, arm: str) -> np.ndarray:
        """The grasp frame on the bar on this arm's side, closing across the bar, with the
        heading of the two that points away from the robot (+x)."""
        lid = self.env.object_poses()["lid"]
        side_dir = self.outward(arm)
        bar = lid[:3, 3] + side_dir * HANDLE_Y_M + lid[:3, 2] * HANDLE_Z_M
        across = float(np.arctan2(side_dir[1], side_dir[0])) - np.pi / 2
        heading = nearest_heading(across, np.pi, 0.0)
        closing = np.array([np.cos(heading), np.sin(heading), 0.0])
        offset = np.zeros(3)
        if self.hand_model.multi_finger:  # hold the thin bar nearer the fingers, a little low
            offset = -0.01 * closing + np.array([0.0, 0.0, -0.006])
        return top_down(bar + offset + self.jitter(0.003), heading)
