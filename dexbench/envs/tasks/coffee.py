"""Coffee: put the pod into the coffee machine's holder, then close the lid.

Task Description:
    A coffee machine stands on the right half of the table with its lid open; a coffee pod (a
    short cylinder) lies on the left half. The left hand picks the pod up, lowers it into the
    pod holder under the open lid, lets go and moves up out of the way. Only then (sequential
    constraint) does the right hand swing the lid shut, pushing it down over the pod.

    Machine frame (the reference's: its yaw means what the reference's does): origin on the
    table under the middle of the machine's footprint; the holder faces +y. The body is a
    17.3 x 20.1 x 22.1 cm block; a round pod holder (a cup: 5.6 cm tall, inner radius 2.8 cm,
    its floor 15.3 cm above the table) sticks out of its front face on a bracket, over a base
    plate with a (decorative) cup. The lid (5.9 x 8.8 x 1.9 cm) is a child body on the hinge
    `lid_hinge` along the frame's x at the body's front-top edge: 0 closed (over the holder,
    its underside 5 mm over the rim), opening up and back over the body to 2pi/3 (120 deg, the
    reference's limit and start). The hinge has damping and friction loss, and the lid is balanced
    on it (its mass on the axis, as a spring-balanced lid's), so a lid let go of stays where
    it is. A tab on the lid's front edge stands
    2 cm proud of its top: a hand pushing the open lid over meets it first.
    The machine is scenery (the reference's is a heavy free body): the lid and the holder are
    parts of it, so the lid never touches the holder or the body, only the pod and the hands.
    The pod is the reference's size: 4.86 cm across, 4.62 cm tall, 3.7 mm of clearance all
    round in the holder (the reference's). It is grippy (friction 2, as the reference's) and
    light (~35 g); the holder is slick (friction 0.1, as the reference's fixed machine's): a pod
    let go of slightly tipped slides in rather than wedging half way (with the pod's friction
    on the holder too, 1 of 3 pods let go of by a hand stuck 1.4 cm high, tipped 16 deg).

Randomizations:
    | layout  | pod x, y (m), yaw                      | machine x, y (m), yaw (rad)                   | lid (rad) |
    |---------|----------------------------------------|-----------------------------------------------|-----------|
    | D0      | (-0.13,-0.07), (0.17,0.23), 0 (ref.)   | (0, -0.1), -pi/6 (reference, fixed)           | 2pi/3 (ref.) |
    | D1      | (-0.145,-0.055), (0.155,0.245), any    | (0.05,0.15), (-0.2,-0.1), (-pi/6,pi/3)        | 2pi/3     |
    | D2      | (-0.06,0.02), (0.15,0.25), any         | (-0.12,-0.08), (-0.06,-0.02), (-7pi/12,-5pi/12) | 2pi/3   |
    D0: the holder faces the pod's side of the table, a little away from the robot; the lid
    opens toward the right hand. D1 widens the pod's range (2.25x the area; any yaw: it is
    round) and moves and turns the machine as MimicGen's D1 does (up to 15 cm further away and
    10 cm further right): the holder faces anywhere from D0's heading (left, a little away) to
    left and toward the robot (90 deg of turn); at the far end of the turn the lid opens away
    from the robot, and the right hand comes down behind it from above.
    D2 turns the machine round (the reference's D2 swaps the sides; with the task spec's fixed roles
    that would make both arms reach across each other's): the holder faces away from the robot
    behind the body, and the lid opens toward the robot over the body. The left hand takes the
    pod (further out on the left) round the machine's side to the holder's far side; the right
    hand pushes the lid away from itself instead of sideways. A replayed D0 demo puts the pod
    where the D0 holder was (0 of 5 on every embodiment, scripted D0 demos of seeds 0-4).

Success Conditions:
    The lid is closed (hinge < 15 deg) and the pod is in the holder: its centre within 5.2 mm
    (xy) of the holder's axis (the holder's outer radius minus the pod's, the reference's
    bound) and the pod between the holder's bottom and the closed lid's underside. A lid closed
    over a pod resting on the rim knocks it off; a lid closed on an empty holder is no success.
    Subtask signals (all false at reset): `grasp_pod` (the left hand holds the pod),
    `insert_pod` (the pod in the holder: centred as above, its bottom within 2 cm of the
    holder's floor; let go of, and the left hand's grasp frame `CLEAR_M` from the holder's
    mouth: out of the lid's way), `close_lid` (= success).
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexbench.envs.tasks.base import (
    Layout,
    Placement,
    Sequential,
    Subtask,
    Task,
    TaskSpec,
    TaskStatus,
    box_between,
    ring_wall,
)

# Machine, in its frame (origin on the table under the footprint's middle, holder along +y), m.
BODY_HALF_X_M = 0.0865  # the body: 17.3 cm wide (x),
BODY_Y_M = (-0.1505, 0.0505)  # 20.1 cm deep (y), its front face at y = 0.0505,
BODY_HEIGHT_M = 0.221  # 22.1 cm tall
HOLDER_Y_M = 0.106  # the holder's axis
HOLDER_BOTTOM_M = 0.146  # the holder's outside bottom above the table
HOLDER_HEIGHT_M = 0.056
HOLDER_TOP_M = HOLDER_BOTTOM_M + HOLDER_HEIGHT_M  # its rim: 20.2 cm
HOLDER_OUTER_RADIUS_M = 0.0295
HOLDER_INNER_RADIUS_M = 0.028  # 3.7 mm of play round the pod (the reference's)
HOLDER_FLOOR_M = HOLDER_BOTTOM_M + 0.007  # the floor's top (a 5 mm base 2 mm up, as the reference's)
HOLDER_WALLS = 16
HOLDER_FRICTION = 0.1  # the reference's fixed machine's holder
HOLDER_WALL_M = 0.003  # the reference's is 1.5 mm; the inner radius is what matters
# Lid: on the hinge at the body's front-top edge; closed it spans y = 0.0605 .. 0.1485 over the
# holder, its underside 5 mm over the rim.
LID_HALF_M = (0.0295, 0.044, 0.0095)
HINGE_Y_M = 0.0605
HINGE_Z_M = HOLDER_TOP_M + 0.005 + LID_HALF_M[2]  # the lid's mid-plane
LID_OPEN_RAD = 2 * np.pi / 3  # the hinge's range and the reference's start
LID_MASS_KG = 0.1
# The lid is balanced on its hinge (its centre of mass on the axis, as a spring-balanced lid):
# its weight does not turn it, so the hinge's friction holds it wherever it is left. (Hanging
# its 0.1 kg 4.4 cm off the axis, MuJoCo's soft friction let it creep 10 deg in 10 s at 45 deg,
# whatever the friction loss.)
HINGE_DAMPING = 0.05  # N m s/rad: a let-go lid stops at once
HINGE_FRICTIONLOSS_NM = 0.05  # ... and stays (a hand's push is ~1 N at 7 cm)
TAB_HALF_M = (0.02, 0.005, 0.01)  # on the lid's front edge, 2 cm proud of its top
# Pod (origin at its centre): the reference's size.
POD_RADIUS_M = 0.0243
POD_HALF_HEIGHT_M = 0.0231
POD_DENSITY = 400.0  # ~35 g
# Signals.
LID_CLOSED_RAD = np.radians(15)  # the reference's bound
CENTRED_M = HOLDER_OUTER_RADIUS_M - POD_RADIUS_M  # 5.2 mm: the reference's bound
INSERTED_TOL_M = 0.02  # pod bottom this close to the holder's floor: inserted (the reference's)
CLEAR_M = 0.10  # the inserting hand's grasp frame this far from the holder's rim centre

LAYOUTS = {
    "D0": Layout(
        "reference reset ranges",
        {"pod": Placement(x=(-0.13, -0.07), y=(0.17, 0.23))},
        scenery={"machine": Placement.at(0.0, -0.1, -np.pi / 6)},
        joints={"lid_hinge": (LID_OPEN_RAD, LID_OPEN_RAD)},
    ),
    "D1": Layout(
        "wider pod range, the machine moves and turns",
        {"pod": Placement(x=(-0.145, -0.055), y=(0.155, 0.245), yaw=(-np.pi, np.pi))},
        scenery={"machine": Placement(x=(0.05, 0.15), y=(-0.2, -0.1), yaw=(-np.pi / 6, np.pi / 3))},
        joints={"lid_hinge": (LID_OPEN_RAD, LID_OPEN_RAD)},
    ),
    "D2": Layout(
        "machine turned to face away from the robot, its lid opening toward it",
        {"pod": Placement(x=(-0.06, 0.02), y=(0.15, 0.25), yaw=(-np.pi, np.pi))},
        scenery={"machine": Placement(x=(-0.12, -0.08), y=(-0.06, -0.02), yaw=(-7 * np.pi / 12, -5 * np.pi / 12))},
        joints={"lid_hinge": (LID_OPEN_RAD, LID_OPEN_RAD)},
    ),
}


class Coffee(Task):
    name = "Coffee"
    horizon = 400
    native_embodiment = "GR1"
    layouts = LAYOUTS
    objects = ("pod", "machine", "lid")
    articulations = ("lid_hinge",)
    task_spec = TaskSpec(
        subtasks={
            # A fist pushes the lid with any heading; turned with a machine turned round (D2),
            # the humanoid's wrist could not hold the carried heading (1 demo in 400 attempts).
            "right": (Subtask("close_lid", "machine", "close_lid", keep_orientation=True),),
            "left": (
                Subtask("grasp_pod", "pod_upright", "grasp_pod"),
                Subtask("insert_pod", "machine", "insert_pod", held="pod"),
            ),
        },
        sequential=(Sequential(pre=("left", "insert_pod"), post=("right", "close_lid")),),
    )

    # ------------------------------------------------------------------ scene
    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        cyl, box = mujoco.mjtGeom.mjGEOM_CYLINDER, mujoco.mjtGeom.mjGEOM_BOX
        dark = dict(rgba=[0.13, 0.13, 0.13, 1], friction=[0.95, 0.005, 0.0001])
        silver = dict(rgba=[0.84, 0.84, 0.84, 1], friction=[0.95, 0.005, 0.0001])
        machine = mj_spec.worldbody.add_body(name="machine", mocap=True)  # placed by the layout's scenery
        box_between(machine, [-BODY_HALF_X_M, BODY_Y_M[0], 0], [BODY_HALF_X_M, BODY_Y_M[1], BODY_HEIGHT_M], **dark)
        # Base plate under the holder, with a cup on it (for the look only).
        box_between(machine, [-0.042, BODY_Y_M[1], 0], [0.042, BODY_Y_M[1] + 0.1, 0.01], **dark)
        machine.add_geom(
            type=cyl,
            size=[0.03, 0.0125, 0],
            pos=[0, HOLDER_Y_M, 0.0225],
            contype=0,
            conaffinity=0,
            rgba=[0.84, 0.84, 0.84, 1],
        )
        # The holder: a floor disc and a round wall of boxes, on a bracket from the body's front.
        # The holder is slick (its friction wins over the pod's: priority): a pod let go of
        # slightly tipped slides down into it rather than wedging, as the reference's fixed
        # machine's holder (friction 0.1).
        red = dict(rgba=[0.8, 0.1, 0.1, 1], friction=[HOLDER_FRICTION, 0.005, 0.0001], priority=1)
        holder = machine.add_body(name="holder", pos=[0, HOLDER_Y_M, HOLDER_BOTTOM_M])
        holder.add_geom(type=cyl, size=[HOLDER_OUTER_RADIUS_M, 0.0025, 0], pos=[0, 0, 0.0045], **red)
        ring_wall(
            holder, HOLDER_INNER_RADIUS_M + HOLDER_WALL_M, HOLDER_HEIGHT_M, HOLDER_WALLS, HOLDER_WALL_M, 0.0, **red
        )
        box_between(
            machine,
            [-0.01, BODY_Y_M[1], HOLDER_TOP_M - 0.012],
            [0.01, HOLDER_Y_M - HOLDER_INNER_RADIUS_M - HOLDER_WALL_M + 0.001, HOLDER_TOP_M - 0.002],
            **silver,
        )

        # Balanced on the hinge (see `LID_MASS_KG`): the mass on the axis, the inertia of the
        # lid plate about it.
        a, b, c = 2 * np.asarray(LID_HALF_M)
        inertia = LID_MASS_KG * np.array([b * b / 3 + c * c / 12, (a * a + c * c) / 12, a * a / 12 + b * b / 3])
        lid = machine.add_body(
            name="lid",
            pos=[0, HINGE_Y_M, HINGE_Z_M],
            explicitinertial=True,
            mass=LID_MASS_KG,
            ipos=[0, 0, 0],
            inertia=inertia,
        )
        lid.add_joint(
            name="lid_hinge",
            type=mujoco.mjtJoint.mjJNT_HINGE,
            axis=[1, 0, 0],
            range=[0.0, LID_OPEN_RAD],
            damping=HINGE_DAMPING,
            frictionloss=HINGE_FRICTIONLOSS_NM,
            armature=0.002,
        )
        lid.add_geom(type=box, size=LID_HALF_M, pos=[0, LID_HALF_M[1], 0], condim=3, **silver)
        tab_pos = [0, 2 * LID_HALF_M[1] - TAB_HALF_M[1], LID_HALF_M[2] + TAB_HALF_M[2]]
        lid.add_geom(type=box, size=TAB_HALF_M, pos=tab_pos, **dark)

        pod = mj_spec.worldbody.add_body(name="pod", pos=[0, 0, table_top_z + POD_HALF_HEIGHT_M])
        pod.add_freejoint(name="pod")
        pod.add_geom(
            type=cyl,
            size=[POD_RADIUS_M, POD_HALF_HEIGHT_M, 0],
            density=POD_DENSITY,
            condim=4,
            friction=[2.0, 0.02, 0.0001],
            rgba=[0.9, 0.85, 0.6, 1],
        )

    def rest_height(self, name: str) -> float:
        return POD_HALF_HEIGHT_M if name == "pod" else 0.0

    def bind(self, model, data, embodiment, table_top_z) -> None:
        super().bind(model, data, embodiment, table_top_z)
        self._holder_id = model.body("holder").id
        self._left_grip = model.site(embodiment.eef_site("left")).id

    def object_poses(self) -> dict[str, np.ndarray]:
        """The bodies' poses, plus `pod_upright`: the pod's position with no turn. The pod is
        round, so its own (random) yaw means nothing to a grasp, and carrying a grasp by it
        would turn the wrist by up to a half turn."""
        poses = super().object_poses()
        upright = np.eye(4)
        upright[:3, 3] = poses["pod"][:3, 3]
        poses["pod_upright"] = upright
        return poses

    # ------------------------------------------------------------------ geometry
    def holder_floor(self) -> np.ndarray:
        """World position of the holder's floor centre (top of the floor)."""
        h = self._holder_id
        return self.data.xpos[h] + self.data.xmat[h].reshape(3, 3) @ [0, 0, HOLDER_FLOOR_M - HOLDER_BOTTOM_M]

    def holder_rim(self) -> np.ndarray:
        """World position of the centre of the holder's mouth."""
        h = self._holder_id
        return self.data.xpos[h] + self.data.xmat[h].reshape(3, 3) @ [0, 0, HOLDER_HEIGHT_M]

    def hinge_position(self) -> np.ndarray:
        return self.data.xpos[self.body_ids["lid"]].copy()

    # ------------------------------------------------------------------ success and signals
    def evaluate(self) -> TaskStatus:
        self.update_contacts()
        pod = self.body_ids["pod"]
        pod_pos = self.data.xpos[pod]
        holder = self.data.xpos[self._holder_id]
        centred = np.linalg.norm(pod_pos[:2] - holder[:2]) <= CENTRED_M
        pod_bottom = pod_pos[2] - POD_HALF_HEIGHT_M
        floor = self.holder_floor()[2]
        inserted = bool(centred and holder[2] < pod_bottom < floor + INSERTED_TOL_M)
        held = self.touched_by_hand("left", pod)
        left_clear = np.linalg.norm(self.data.site_xpos[self._left_grip] - self.holder_rim()) > CLEAR_M
        angle = self.joint_position("lid_hinge")
        # Under the closed lid: the pod's top below the lid's underside (at the holder's axis).
        lid = self.body_ids["lid"]
        lid_mat = self.data.xmat[lid].reshape(3, 3)
        underside = self.data.xpos[lid] + lid_mat @ [0, HOLDER_Y_M - HINGE_Y_M, -LID_HALF_M[2]]
        in_holder = bool(centred and holder[2] < pod_bottom and pod_pos[2] + POD_HALF_HEIGHT_M < underside[2])
        closed = bool(angle < LID_CLOSED_RAD and in_holder)
        return TaskStatus(
            success=closed,
            signals={
                "grasp_pod": self.is_grasped("left", pod),
                "insert_pod": bool(inserted and not held and left_clear),
                "close_lid": closed,
            },
        )

    def dense_reward(self, status: TaskStatus) -> float:
        signals = status.signals
        pod = self.data.xpos[self.body_ids["pod"]]
        to_holder = float(np.linalg.norm(pod - self.holder_rim()))
        reward = 0.1 * signals["grasp_pod"] + 0.3 * (1.0 - np.clip(to_holder / 0.4, 0.0, 1.0))
        if signals["insert_pod"]:
            closing = 1.0 - np.clip(self.joint_position("lid_hinge") / LID_OPEN_RAD, 0.0, 1.0)
            reward = 0.5 + 0.5 * float(closing)
        return float(1.0 if status.success else min(reward, 0.95))
