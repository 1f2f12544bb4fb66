"""PieceAssembly: seat piece 1 in the base, then piece 2 on piece 1.

Task Description:
    A heavy base is fixed at the table centre; piece 1 lies on the right half of the table,
    piece 2 on the left half. The right hand grasps piece 1 and seats it in the base's recess
    while the left hand grasps piece 2 and holds it ready beside the base (parallel). Only when
    piece 1 is seated and the right hand has let go and moved off it (sequential constraint)
    does the left hand seat piece 2 on piece 1 and let go.

    Each piece fits into the one below it, as in MimicGen's ThreePieceAssembly, with MuJoCo
    boxes instead of its unit-cube patterns:
    - the base (scenery) is a 9.4 x 7.4 cm plate, 1 cm thick, with 8 mm walls round a 7.0 x
      5.0 cm recess;
    - piece 1 is a 6.4 x 4.4 cm block, 4.5 cm tall, that fits the recess with 3 mm to spare on
      every side; 1 cm rims round its top make a 4.8 x 2.8 cm socket;
    - piece 2 is a cap as large as piece 1 (4 cm tall) on a 4.2 x 2.2 cm tenon, 1.2 cm long,
      that fits piece 1's socket with 3 mm to spare: seated, the tenon rests on piece 1's top
      inside the rims and the cap clears them by 2 mm.
    The parts are rectangles, not squares or discs: a piece goes in only with its long side
    along the long side of what is under it (two headings of four), so the pieces' and the
    base's yaws matter. In each body's frame the long side lies along x for the pieces and along
    y for the base, so at the reference yaws (pieces pi/2, base 0) they line up as they lie.
    Both pieces are grasped across their 4.4 cm width, high up: jaws (8 cm stroke) and a
    five-finger hand (palm on the top, fingers curled down the sides) then stay above the
    walls of the recess or socket the piece goes into. Sizes are about the reference's units
    (1.7-2 cm): pieces 3 x 2 units.
    Reset: pieces are drawn again (as MimicGen's placement sampler does) until no two of base,
    piece 1 and piece 2 are closer than `MIN_GAP_M` (centres), so a hand has room round each.
    The table is 0.8 x 0.8 m as in the reference.

Randomizations:
    | layout | base x, y (m), yaw (rad)           | piece 1 x, y (m), yaw         | piece 2 x, y (m), yaw        |
    |--------|------------------------------------|-------------------------------|------------------------------|
    | D0     | (0, 0), 0 (fixed)                  | (-0.22,0.22), (-0.22,0), pi/2 | (-0.22,0.22), (0,0.22), pi/2 |
    | D1     | (-0.12,0.22), (-0.12,0.12), 0      | as D0                         | as D0                        |
    | D2     | (-0.12,0.22), (-0.12,0.12), +-pi/4 | as D0, yaw pi/2 +- pi/2       | as D0, yaw pi/2 +- pi/2      |
    D0's ranges are the reference's.
    D1 moves the base as MimicGen's D1 does (+-0.22 there; here as far as the humanoid's arm
    from the other side still seats a piece on it: see `BASE_X_M`). D2 also turns the base up to
    45 deg and the pieces anywhere in a half turn: each piece must be turned in the hand to
    its seat, so a replayed D0 demo presses piece 1 on the walls of a recess turned away (the
    scripted D0 demos of seeds 0-4, replayed with only the base turned 30 deg: 0 of 5 succeed
    on Panda and on GR1; as recorded: 5 of 5).

Success Conditions:
    Piece 1 is seated in the base (upright, within 2 cm (xy) of the recess centre, its bottom
    within 5 mm of the recess floor, touching the base) and no hand touches it; piece 2 is
    seated on piece 1 (upright, within 2 cm (xy) of piece 1, at the stacked height +- 5 mm,
    touching piece 1) and no hand touches it. Seated within those bounds means in the recess
    or socket: resting on a wall or rim puts a piece 8-10 mm high.
    Subtask signals (all false at reset): `grasp_piece1` (the right hand holds piece 1),
    `place_piece1` (piece 1 seated, let go of, and the right hand's grasp frame `CLEAR_M` from
    it: out of the left hand's way), `grasp_piece2` (the left hand holds piece 2),
    `place_piece2` (piece 2 seated on piece 1 and let go of; = success).
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexbench.envs.tasks.base import Layout, Placement, Sequential, Subtask, Task, TaskSpec, TaskStatus, box_between

# Pieces, in their own frames (origin at the bottom centre, long side along x), metres.
PIECE_LENGTH_M = 0.064  # ~3 units
PIECE_WIDTH_M = 0.044  # ~2 units: what the hand closes across
CLEARANCE_M = 0.003  # play on each side of a piece in its seat
PIECE1_CORE_HEIGHT_M = 0.045  # piece 1's block; its top is where piece 2's tenon rests
RIM_HEIGHT_M = 0.010  # rims round piece 1's top: the depth of its socket
RIM_THICKNESS_M = 0.008
PIECE1_HEIGHT_M = PIECE1_CORE_HEIGHT_M + RIM_HEIGHT_M
TENON_LENGTH_M = PIECE_LENGTH_M - 2 * (RIM_THICKNESS_M + CLEARANCE_M)  # 4.2 cm
TENON_WIDTH_M = PIECE_WIDTH_M - 2 * (RIM_THICKNESS_M + CLEARANCE_M)  # 2.2 cm
TENON_HEIGHT_M = RIM_HEIGHT_M + 0.002  # seated, the cap clears the rims by 2 mm
CAP_HEIGHT_M = 0.040
PIECE2_HEIGHT_M = TENON_HEIGHT_M + CAP_HEIGHT_M
PIECE_DENSITY = 500.0  # kg/m^3, wood: piece 1 ~0.07 kg, piece 2 ~0.06 kg
# Base (scenery), in its frame (origin on the table under the recess centre, long side along y).
BASE_FLOOR_M = 0.010  # the recess floor above the table
BASE_WALL_HEIGHT_M = 0.008  # the recess depth
BASE_WALL_M = 0.012
RECESS_X_M = PIECE_WIDTH_M + 2 * CLEARANCE_M  # 5.0 cm
RECESS_Y_M = PIECE_LENGTH_M + 2 * CLEARANCE_M  # 7.0 cm
# Reset: centres of base and pieces at least this far apart (xy), so a hand has room round each
# (a piece's half length plus the base's half length plus a finger's width).
MIN_GAP_M = 0.12
# D1/D2 base range (m): the reference's +-0.22, except where an arm cannot seat a piece on it.
# Measured on GR1 (IK, hand 10 cm over the table): the left hand misses (-0.22, -0.12) by 3.5
# cm and (-0.16, -0.16) by 5 mm, the right hand (-0.22, 0.12) by 2.4 cm; both reach every
# point of x (-0.12, 0.22), y (-0.12, 0.12) within 3 mm.
BASE_X_M = (-0.12, 0.22)
BASE_Y_M = (-0.12, 0.12)
# Signals.
SEAT_XY_TOL_M = 0.02  # reference: within 2 cm (xy)
SEAT_Z_TOL_M = 0.005  # a piece on a wall or rim instead of in its seat is 8-10 mm higher
UPRIGHT_MIN = 0.95  # cos of the tilt from upright
CLEAR_M = 0.12  # the placing hand's grasp frame this far from piece 1: an open hand's fingers
# reach 8-10 cm past it, and the left hand coming in with piece 2 must not meet them

PIECE_RANGES = {"piece1": ((-0.22, 0.22), (-0.22, 0.0)), "piece2": ((-0.22, 0.22), (0.0, 0.22))}


def _layout(description: str, base: Placement, piece_yaw: tuple[float, float]) -> Layout:
    return Layout(
        description,
        {name: Placement(x=x, y=y, yaw=piece_yaw) for name, (x, y) in PIECE_RANGES.items()},
        scenery={"base": base},
    )


LAYOUTS = {
    "D0": _layout("reference reset ranges", Placement.at(0.0, 0.0, 0.0), (np.pi / 2, np.pi / 2)),
    "D1": _layout("the base moves", Placement(x=BASE_X_M, y=BASE_Y_M), (np.pi / 2, np.pi / 2)),
    "D2": _layout(
        "the base moves and turns, the pieces turn",
        Placement(x=BASE_X_M, y=BASE_Y_M, yaw=(-np.pi / 4, np.pi / 4)),
        (0.0, np.pi),
    ),
}


class PieceAssembly(Task):
    name = "PieceAssembly"
    horizon = 300
    native_embodiment = "Panda"
    layouts = LAYOUTS
    objects = ("piece1", "piece2", "base")
    task_spec = TaskSpec(
        subtasks={
            "right": (
                Subtask("grasp_piece1", "piece1", "grasp_piece1"),
                Subtask("place_piece1", "base", "place_piece1", held="piece1"),
            ),
            "left": (
                Subtask("grasp_piece2", "piece2", "grasp_piece2"),
                Subtask("place_piece2", "piece1", "place_piece2", held="piece2"),
            ),
        },
        sequential=(Sequential(pre=("right", "place_piece1"), post=("left", "place_piece2")),),
    )

    # ------------------------------------------------------------------ scene
    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        wood = dict(friction=[1.0, 0.005, 0.0001])
        # The base: a mocap body (the layout places it), its floor 1 mm over the table so the
        # two never touch.
        base = mj_spec.worldbody.add_body(name="base", mocap=True)
        grey = dict(**wood, rgba=[0.45, 0.45, 0.5, 1])
        hx, hy, w = RECESS_X_M / 2, RECESS_Y_M / 2, BASE_WALL_M
        top = BASE_FLOOR_M + BASE_WALL_HEIGHT_M
        box_between(base, [-hx - w, -hy - w, 0.001], [hx + w, hy + w, BASE_FLOOR_M], **grey)
        for s in (-1, 1):
            box_between(
                base,
                [min(s * hx, s * (hx + w)), -hy - w, BASE_FLOOR_M],
                [max(s * hx, s * (hx + w)), hy + w, top],
                **grey,
            )  # long walls
            box_between(
                base, [-hx, min(s * hy, s * (hy + w)), BASE_FLOOR_M], [hx, max(s * hy, s * (hy + w)), top], **grey
            )  # end walls

        lx, ly = PIECE_LENGTH_M / 2, PIECE_WIDTH_M / 2
        piece1 = mj_spec.worldbody.add_body(name="piece1", pos=[0, 0, table_top_z])
        piece1.add_freejoint(name="piece1")
        red = dict(**wood, rgba=[0.8, 0.25, 0.2, 1], density=PIECE_DENSITY)
        box_between(piece1, [-lx, -ly, 0], [lx, ly, PIECE1_CORE_HEIGHT_M], **red)
        t, z0, z1 = RIM_THICKNESS_M, PIECE1_CORE_HEIGHT_M, PIECE1_HEIGHT_M
        for s in (-1, 1):
            box_between(piece1, [-lx, min(s * ly, s * (ly - t)), z0], [lx, max(s * ly, s * (ly - t)), z1], **red)
            box_between(
                piece1, [min(s * lx, s * (lx - t)), -ly + t, z0], [max(s * lx, s * (lx - t)), ly - t, z1], **red
            )

        piece2 = mj_spec.worldbody.add_body(name="piece2", pos=[0, 0, table_top_z])
        piece2.add_freejoint(name="piece2")
        blue = dict(**wood, rgba=[0.2, 0.4, 0.85, 1], density=PIECE_DENSITY)
        box_between(
            piece2,
            [-TENON_LENGTH_M / 2, -TENON_WIDTH_M / 2, 0],
            [TENON_LENGTH_M / 2, TENON_WIDTH_M / 2, TENON_HEIGHT_M],
            **blue,
        )
        box_between(piece2, [-lx, -ly, TENON_HEIGHT_M], [lx, ly, PIECE2_HEIGHT_M], **blue)

    def bind(self, model, data, embodiment, table_top_z) -> None:
        super().bind(model, data, embodiment, table_top_z)
        self._right_grip = model.site(embodiment.eef_site("right")).id

    def initialize_episode(self, rng: np.random.Generator) -> None:
        """Draw the layout until base and pieces lie apart (MimicGen's placement sampler
        rejects overlapping draws too)."""
        while True:
            super().initialize_episode(rng)
            centres = [self.data.qpos[self._free_qpos[n] : self._free_qpos[n] + 2] for n in ("piece1", "piece2")]
            centres.append(self.data.mocap_pos[self._mocap["base"], :2])
            if all(np.linalg.norm(a - b) >= MIN_GAP_M for i, a in enumerate(centres) for b in centres[i + 1 :]):
                return

    # ------------------------------------------------------------------ seats
    def seat_piece1(self) -> np.ndarray:
        """Where piece 1's origin goes (world): the recess floor's centre."""
        base = self.body_ids["base"]
        return self.data.xpos[base] + self.data.xmat[base].reshape(3, 3)[:, 2] * BASE_FLOOR_M

    def seat_piece2(self) -> np.ndarray:
        """Where piece 2's origin goes (world): the top of piece 1's block, as piece 1 is now."""
        piece1 = self.body_ids["piece1"]
        return self.data.xpos[piece1] + self.data.xmat[piece1].reshape(3, 3)[:, 2] * PIECE1_CORE_HEIGHT_M

    def seated(self, name: str, seat: np.ndarray, below: int) -> bool:
        body = self.body_ids[name]
        offset = self.data.xpos[body] - seat
        return bool(
            np.hypot(offset[0], offset[1]) < SEAT_XY_TOL_M
            and abs(offset[2]) < SEAT_Z_TOL_M
            and self.data.xmat[body, 8] > UPRIGHT_MIN
            and self.touching(body, below)
        )

    # ------------------------------------------------------------------ success and signals
    def evaluate(self) -> TaskStatus:
        self.update_contacts()
        ids = self.body_ids
        p1, p2 = ids["piece1"], ids["piece2"]
        p1_in = self.seated("piece1", self.seat_piece1(), ids["base"]) and not self.touched_by_hand("right", p1)
        p2_in = self.seated("piece2", self.seat_piece2(), p1) and not self.touched_by_hand("left", p2)
        right_clear = np.linalg.norm(self.data.site_xpos[self._right_grip] - self.data.xpos[p1]) > CLEAR_M
        done = bool(p1_in and p2_in)
        return TaskStatus(
            success=done,
            signals={
                "grasp_piece1": self.is_grasped("right", p1),
                "place_piece1": bool(p1_in and right_clear),
                "grasp_piece2": self.is_grasped("left", p2),
                "place_piece2": done,
            },
        )

    def dense_reward(self, status: TaskStatus) -> float:
        signals = status.signals

        def closeness(name: str, seat: np.ndarray) -> float:
            return float(np.exp(-np.linalg.norm(self.data.xpos[self.body_ids[name]] - seat) / 0.05))

        if status.success:
            return 1.0
        p1_done = signals["place_piece1"]
        reward = 0.1 * signals["grasp_piece1"] + (0.4 if p1_done else 0.3 * closeness("piece1", self.seat_piece1()))
        reward += 0.1 * signals["grasp_piece2"]
        if p1_done:
            reward += 0.3 * closeness("piece2", self.seat_piece2())
        return float(min(reward, 0.95))
