"""Scripted PieceAssembly: the right hand seats piece 1 in the base, then the left hand seats
piece 2 on piece 1.

Right: over piece 1 (closing across its width) -> down -> close -> up -> over the base's recess,
piece 1 turned to it -> line the piece up over its seat (measured, twice) -> down -> open ->
up and aside.
Left (meanwhile): over piece 2 -> down -> close -> up -> beside the base, ready -> wait until
piece 1 is seated and the right hand is clear -> over piece 1's socket, lined up -> down ->
open -> up.

The script is closed-loop, as an oracle may be: it checks each grasp (signal and lift) and
each seating (the piece's pose), and repeats a phase, re-planned from where things now are,
that did not take; a grasp the arm cannot get down to (a humanoid's wrist near its body) is
tried again with the hand the other way round. It lines a held piece up from where the piece really is in the hand, not
where it was grasped: the 3 mm play of a seat is less than a grasp's slip.
"""

from __future__ import annotations

import numpy as np

from dexbench.envs.tasks.piece_assembly import PIECE1_HEIGHT_M, PIECE2_HEIGHT_M
from dexbench.generators.scripted.base import (
    ArmScript,
    ScriptedDemonstrator,
    heading_of,
    nearest_heading,
    top_down,
    translated,
)

PIECES = {"right": "piece1", "left": "piece2"}
HEIGHT_M = {"piece1": PIECE1_HEIGHT_M, "piece2": PIECE2_HEIGHT_M}
APPROACH_HEIGHT_M = 0.08  # hover this far above a grasp before going down
ATTEMPTS = 3  # tries per grasp or seating before going on regardless
# Keyed by `Hand.multi_finger`: the grasp frame this far below a piece's top. Jaws hold the
# top 2.5 cm of the piece (their tips 1.3 cm below the frame); a hand rests its palm on the top
# and curls its fingers down the sides.
GRASP_BELOW_TOP_M = {False: 0.015, True: 0.006}
REACH_TOL_M = 0.015  # the hand this far from its grasp target after settling: out of reach
CHECK_LIFT_M = 0.03  # lift a grasped piece this far, then check it came along
HOVER_M = 0.035  # a carried piece's bottom this far above its seat while lining it up
LINE_UP_ROUNDS = 2  # measure-and-correct rounds over the seat
PRESS_M = 0.004  # go down this far past the seat: the piece sits, the hand is not stopped short
SEATED_XY_M = 0.008  # a piece this close (xy) to its seat and
SEATED_Z_M = 0.004  # ... this close in height is seated
READY_OFFSET_M = np.array([0.0, 0.15, 0.0])  # the left hand waits this far from the base (world)
READY_ABOVE_M = 0.10  # ... with piece 2's bottom this far above its seat
ASIDE_M = np.array([0.0, -0.12, 0.10])  # the right hand's way out after seating piece 1


class PieceAssemblyDemonstrator(ScriptedDemonstrator):
    task = "PieceAssembly"

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.flipped = {piece: False for piece in PIECES.values()}

    def script(self, arm: str) -> ArmScript:
        piece = PIECES[arm]
        signals = self.env.subtask_signals
        yield from self.turn_toward(arm, self.grasp_heading(piece))
        for attempt in range(ATTEMPTS):
            for _ in range(ATTEMPTS):
                if (yield from self.grasp(arm, piece)):
                    break
            if arm == "left" and attempt == 0:
                # Ready beside the base until piece 1 is seated and the right hand is clear.
                yield from self.move(arm, self.ready_pose(), speed_scale=0.8)
                yield from self.wait_until(arm, lambda: signals()["place_piece1"], max_steps=250)
            if (yield from self.seat(arm, piece)):
                break
        if arm == "right":
            yield from self.move(arm, translated(self.target[arm], ASIDE_M + self.jitter(0.01)))
            yield from self.hold(arm, 20)
        else:
            yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))

    # ------------------------------------------------------------------ phases
    def grasp(self, arm: str, piece: str) -> ArmScript:
        """Top-down grasp across the piece's width, as it lies now; returns whether it came up
        with the hand."""
        opened, closed = self.open_hand, self.closed_hand
        pose = self.env.object_poses()[piece]
        yield from self.turn_toward(arm, self.grasp_heading(piece))
        grasp = top_down(
            pose[:3, 3]
            + [0, 0, HEIGHT_M[piece] - GRASP_BELOW_TOP_M[self.hand_model.multi_finger]]
            + self.along(pose, self.rng.uniform(-0.006, 0.006)),
            self.grasp_heading(piece),
        )
        yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]), opened)
        yield from self.move(arm, grasp, opened, speed_scale=0.5, settle_steps=self.steps(5))
        if np.linalg.norm(self.env.eef_poses()[arm][:3, 3] - grasp[:3, 3]) > REACH_TOL_M:
            # The arm cannot get down there with the hand this way round (a humanoid's wrist
            # near its body): back up and come again the other way round.
            self.flipped[piece] = not self.flipped[piece]
            yield from self.move(arm, translated(grasp, [0, 0, APPROACH_HEIGHT_M]))
            return False
        yield from self.set_hand(arm, closed, self.steps(10))
        yield from self.hold(arm, 4)
        yield from self.move(arm, translated(self.target[arm], [0, 0, CHECK_LIFT_M]), speed_scale=0.5, settle_steps=2)
        lifted = self.env.object_poses()[piece][2, 3] - pose[2, 3] > CHECK_LIFT_M / 3
        if lifted and self.env.subtask_signals()[f"grasp_{piece}"]:
            return True
        yield from self.set_hand(arm, opened, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        return False

    def seat(self, arm: str, piece: str) -> ArmScript:
        """Carry the held piece over its seat, turned to it; line it up there from where it
        really is (measure, correct, again); lower it in and let go. Returns whether it sits."""
        seat, seat_yaw = self.seat_pose(piece)
        carry_z = seat[2] + HOVER_M + 0.05
        lift = max(0.0, carry_z - self.env.object_poses()[piece][2, 3])
        yield from self.move(arm, translated(self.target[arm], [0, 0, lift]))
        yield from self.move(
            arm, self.hand_for(arm, piece, seat + [0, 0, HOVER_M + 0.05], seat_yaw), settle_steps=self.steps(4)
        )
        for _ in range(LINE_UP_ROUNDS):
            seat, seat_yaw = self.seat_pose(piece)
            yield from self.move(
                arm,
                self.hand_for(arm, piece, seat + [0, 0, HOVER_M], seat_yaw),
                speed_scale=0.5,
                settle_steps=self.steps(6),
            )
        seat, _ = self.seat_pose(piece)
        drop = self.env.object_poses()[piece][2, 3] - seat[2] + PRESS_M
        yield from self.move(
            arm, translated(self.target[arm], [0, 0, -drop]), speed_scale=0.4, settle_steps=self.steps(4)
        )
        yield from self.set_hand(arm, self.open_hand, self.steps(8))
        yield from self.hold(arm, 3)
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]), speed_scale=0.7)
        return self.is_seated(piece)

    # ------------------------------------------------------------------ geometry
    def grasp_heading(self, piece: str) -> float:
        """Closing across the piece's width (its y); of the two such headings, the one nearer
        +x (a hand's fingers point away from the robot), or the other one where that was out
        of reach."""
        pose = self.env.object_poses()[piece]
        heading = nearest_heading(np.arctan2(pose[1, 0], pose[0, 0]) + np.pi / 2, np.pi, 0.0)
        return nearest_heading(heading + np.pi * self.flipped[piece], 2 * np.pi, 0.0)

    @staticmethod
    def along(pose: np.ndarray, distance: float) -> np.ndarray:
        """A shift along the piece's long side (its x) in the table plane."""
        axis = pose[:3, 0].copy()
        axis[2] = 0.0
        return distance * axis / np.linalg.norm(axis)

    def seat_pose(self, piece: str) -> tuple[np.ndarray, float]:
        """Where the piece's origin goes (world) and the heading of its long side there."""
        task = self.env.task
        poses = self.env.object_poses()
        if piece == "piece1":
            base = poses["base"]
            return task.seat_piece1(), float(np.arctan2(base[1, 1], base[0, 1]))  # long side: base y
        below = poses["piece1"]
        return task.seat_piece2(), float(np.arctan2(below[1, 0], below[0, 0]))

    def hand_for(self, arm: str, piece: str, position: np.ndarray, long_yaw: float) -> np.ndarray:
        """The hand target that puts the held piece's origin at `position` with its long side
        along `long_yaw` (either way round: the one that leaves the hand heading nearer +x):
        the present target, turned about the piece and shifted by how far the piece is from
        there now. It keeps the controller's steady lag and the piece's slip in the hand.
        (Levelling the piece instead, by tilting the hand against the ~25 deg a hand's fingers
        tip it as they close, was tried: the tilted fingers then knock the seated piece over
        as they open, 1 of 10 on D0.)"""
        target = self.target[arm]
        pose = self.env.object_poses()[piece]
        piece_yaw = float(np.arctan2(pose[1, 0], pose[0, 0]))
        turn = nearest_heading(long_yaw - piece_yaw, np.pi, -heading_of(target))
        c, s = np.cos(turn), np.sin(turn)
        offset = target[:3, 3] - pose[:3, 3]  # piece to hand target, world
        offset[:2] = [c * offset[0] - s * offset[1], s * offset[0] + c * offset[1]]
        return top_down(position + offset, nearest_heading(heading_of(target) + turn, 2 * np.pi, 0.0))

    def ready_pose(self) -> np.ndarray:
        """Beside the base (not piece 1: it may be on its way in the other hand), piece 2 high."""
        base = self.env.object_poses()["base"][:3, 3]
        height = self.env.eef_poses()["left"][2, 3] - self.env.object_poses()["piece2"][2, 3]
        position = base + READY_OFFSET_M + self.jitter(0.01) + [0, 0, READY_ABOVE_M + PIECE1_HEIGHT_M + height]
        return top_down(position, heading_of(self.target["left"]))

    def is_seated(self, piece: str) -> bool:
        seat, _ = self.seat_pose(piece)
        offset = self.env.object_poses()[piece][:3, 3] - seat
        return bool(np.hypot(offset[0], offset[1]) < SEATED_XY_M and abs(offset[2]) < SEATED_Z_M)
