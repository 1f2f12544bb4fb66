"""Visual randomisation: lighting, table and floor textures, object colours, camera pose and field
of view, distractor objects (DexSim's visual factors), each switched on by name.

An env made with `visual_factors=(...)` draws, at every reset, a new look for each factor named,
from a random stream of its own seeded by the reset seed: the same seed gives the same images,
bit for bit, and one factor's draw does not depend on which other factors are on (each factor
has its own generator, keyed by the episode and the factor's name). The published ids name none,
and then nothing here runs: the model, the images and every number are the published env's.

Nothing here changes physics. The factors write only model fields that the renderer reads and
the dynamics never do (lights, materials, `geom_rgba`, cameras), and the distractors are geoms
that collide with nothing (`contype = conaffinity = 0`) fixed to the world, so they add no
degree of freedom and no state: states, state observations and trajectories under a seed are
bitwise the same with and without any factor (`tests/test_visual.py`). The distractors are
visual only on purpose: a physical one would change the published task (its success, its
demonstrations) rather than only how it looks.

Everything is procedural, with MuJoCo's built-in textures (checker, gradient, flat): nothing is
downloaded. The ranges are the constants below; docs/rendering.md tabulates them.
"""

from __future__ import annotations

import difflib
import zlib
from collections.abc import Iterable

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

FACTORS = ("lighting", "textures", "object_colors", "camera", "distractors")

# lighting: every light of the model and the headlight
LIGHT_DIR_JITTER = 0.5  # added to each component of the unit direction, then renormalised (up to ~27 deg)
LIGHT_POS_JITTER_M = 0.3  # per axis
LIGHT_INTENSITY = (0.4, 1.6)  # diffuse and ambient light scale with it
LIGHT_TINT = (0.6, 1.0)  # per colour channel, then scaled so the brightest channel is 1: a coloured light
HEADLIGHT_INTENSITY = (0.5, 1.5)  # the camera's own light (ambient and diffuse)

# textures: the table top and the floor each get a texture of the bank, a colour and a repeat
TEXTURE_BANK = 12  # built-in textures with colours drawn once from BANK_SEED (the same in every env)
BANK_SEED = 20261206
TEXTURE_BUILTINS = (
    mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
    mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
    mujoco.mjtBuiltin.mjBUILTIN_FLAT,
)
TEXTURE_PX = 128  # side of each bank texture
SURFACE_RGB = (0.25, 1.0)  # per channel: the material colour, which tints the texture
# the arena's geoms (envs/scene.py) -> how many times the texture repeats across them
TEXTURE_REPEATS = {"table": (1.0, 4.0), "floor": (2.0, 10.0)}

# object colours: one colour per task object; its geoms keep their brightness relative to one another
OBJECT_RGB = (0.05, 0.95)  # per channel

# camera: every camera of the model, offsets in its parent's frame
CAMERA_POS_JITTER_M = 0.03  # per axis
CAMERA_ROT_JITTER_RAD = np.deg2rad(4.0)  # about each of the camera's axes
CAMERA_FOVY_JITTER_DEG = 5.0  # added to the field of view

# distractors: visual-only primitives resting on the table, away from the task's objects
DISTRACTOR_SHAPES = (
    mujoco.mjtGeom.mjGEOM_BOX,
    mujoco.mjtGeom.mjGEOM_CYLINDER,
    mujoco.mjtGeom.mjGEOM_SPHERE,
    mujoco.mjtGeom.mjGEOM_CAPSULE,
    mujoco.mjtGeom.mjGEOM_ELLIPSOID,
)
DISTRACTORS_SHOWN = (1, 4)  # how many of the slots (one per shape) stand on the table
DISTRACTOR_HALF_M = (0.015, 0.04)  # half extents
DISTRACTOR_RGB = (0.05, 0.95)
DISTRACTOR_CLEARANCE_M = 0.04  # free space between a distractor and a task object or another distractor
TABLE_EDGE_MARGIN_M = 0.05
PLACEMENT_TRIES = 50  # a distractor that finds no free spot in this many draws stays hidden


def check_factors(factors) -> tuple[str, ...]:
    """The factors an env was asked for, in `FACTORS` order; "all" names every one. Anything
    else is refused with the valid names."""
    if isinstance(factors, str):
        factors = FACTORS if factors == "all" else (factors,)
    try:
        names = list(factors)
    except TypeError:
        raise ValueError(
            f"visual_factors must be a list of factor names from {FACTORS} (or 'all'), got {factors!r}"
        ) from None
    unknown = [n for n in names if n not in FACTORS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), FACTORS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown visual factor(s) {unknown}{hint}; choose from {', '.join(FACTORS)} (or 'all')")
    if len(set(names)) != len(names):
        raise ValueError(f"visual_factors names a factor twice: {names}")
    return tuple(f for f in FACTORS if f in names)


def factor_rng(episode_key: int, factor: str) -> np.random.Generator:
    """The generator of one factor in one episode: independent of the other factors."""
    return np.random.default_rng([episode_key, zlib.crc32(factor.encode())])


class Appearance:
    """The visual factors of one env: `add_to(mj_spec)` before compiling, `bind(model)` after, then
    `new_episode(key, data)` at every reset and `apply()` whenever the model fields may have been
    overwritten (a restored state re-applies the object axis)."""

    def __init__(self, factors: Iterable[str]) -> None:
        self.factors = check_factors(factors)
        self._draw: dict[str, dict[str, np.ndarray]] = {}

    # ------------------------------------------------------------------ building
    def add_to(self, mj_spec: mujoco.MjSpec, table_top_z: float, table_size_m: tuple[float, float]) -> None:
        """The build-time parts: the texture bank and the distractor slots."""
        self._table_top_z, self._table_half = table_top_z, np.asarray(table_size_m) / 2
        if "textures" in self.factors:
            rng = np.random.default_rng(BANK_SEED)
            for k in range(TEXTURE_BANK):
                mj_spec.add_texture(
                    name=f"appearance_texture_{k}",
                    type=mujoco.mjtTexture.mjTEXTURE_2D,
                    builtin=TEXTURE_BUILTINS[k % len(TEXTURE_BUILTINS)],
                    rgb1=rng.uniform(0, 1, 3),
                    rgb2=rng.uniform(0, 1, 3),
                    width=TEXTURE_PX,
                    height=TEXTURE_PX,
                )
        if "distractors" in self.factors:
            for k, shape in enumerate(DISTRACTOR_SHAPES):
                mj_spec.worldbody.add_geom(
                    name=f"distractor_{k}",
                    type=shape,
                    size=[0.02, 0.02, 0.02],
                    pos=[0, 0, table_top_z],
                    rgba=[0.5, 0.5, 0.5, 0],
                    contype=0,
                    conaffinity=0,
                )

    def bind(self, model: mujoco.MjModel, object_bodies: dict[str, int], colour_coded: Iterable[str]) -> None:
        """Keep the model's own values (each draw perturbs them, never a previous draw) and the
        ids the factors write. `object_bodies`: the task's objects (name -> body id); the
        `colour_coded` ones keep their colours (their colour is the task's meaning)."""
        self.model = model
        self._lights = dict(
            pos=model.light_pos.copy(),
            dir=model.light_dir.copy(),
            diffuse=model.light_diffuse.copy(),
            ambient=model.light_ambient.copy(),
            head_diffuse=model.vis.headlight.diffuse.copy(),
            head_ambient=model.vis.headlight.ambient.copy(),
        )
        self._cameras = dict(pos=model.cam_pos.copy(), quat=model.cam_quat.copy(), fovy=model.cam_fovy.copy())
        self._surfaces = {int(model.geom_matid[model.geom(name).id]): span for name, span in TEXTURE_REPEATS.items()}
        self._materials = dict(
            texid=model.mat_texid.copy(), rgba=model.mat_rgba.copy(), repeat=model.mat_texrepeat.copy()
        )
        self._bank = (
            [model.texture(f"appearance_texture_{k}").id for k in range(TEXTURE_BANK)]
            if "textures" in self.factors
            else []
        )
        self._geom_rgba = model.geom_rgba.copy()
        self._object_geoms = {}
        for name, body in object_bodies.items():
            if name in colour_coded:
                continue
            geoms = np.flatnonzero(np.isin(model.geom_bodyid, _subtree(model, body)) & (model.geom_rgba[:, 3] > 0))
            if len(geoms):
                self._object_geoms[name] = geoms
        # every geom of every object, colour-coded or not: the distractors keep clear of them all
        self._object_all_geoms = np.flatnonzero(
            np.isin(model.geom_bodyid, [b for body in object_bodies.values() for b in _subtree(model, body)])
        )
        self._distractors = (
            [model.geom(f"distractor_{k}").id for k in range(len(DISTRACTOR_SHAPES))]
            if "distractors" in self.factors
            else []
        )

    # ------------------------------------------------------------------ drawing
    def new_episode(self, episode_key: int, data: mujoco.MjData) -> None:
        """Draw every factor's look for an episode (`data`: the reset state, where the task's
        objects stand, so the distractors keep away from them) and write it into the model."""
        draw = {}
        for factor in self.factors:
            rng = factor_rng(episode_key, factor)
            draw[factor] = getattr(self, f"_draw_{factor}")(rng, data)
        self._draw = draw
        self.apply()

    def _draw_lighting(self, rng: np.random.Generator, data) -> dict[str, np.ndarray]:
        ref, n = self._lights, len(self._lights["dir"])
        direction = ref["dir"] + rng.uniform(-LIGHT_DIR_JITTER, LIGHT_DIR_JITTER, (n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        tint = rng.uniform(*LIGHT_TINT, (n, 3))
        colour = rng.uniform(*LIGHT_INTENSITY, (n, 1)) * tint / tint.max(axis=1, keepdims=True)
        head = rng.uniform(*HEADLIGHT_INTENSITY)
        return dict(
            light_dir=direction,
            light_pos=ref["pos"] + rng.uniform(-LIGHT_POS_JITTER_M, LIGHT_POS_JITTER_M, (n, 3)),
            light_diffuse=ref["diffuse"] * colour,
            light_ambient=ref["ambient"] * colour,
            head_diffuse=ref["head_diffuse"] * head,
            head_ambient=ref["head_ambient"] * head,
        )

    def _draw_textures(self, rng: np.random.Generator, data) -> dict[str, np.ndarray]:
        texid, rgba, repeat = (self._materials[k].copy() for k in ("texid", "rgba", "repeat"))
        for material, span in self._surfaces.items():
            texid[material, mujoco.mjtTextureRole.mjTEXROLE_RGB] = self._bank[rng.integers(len(self._bank))]
            rgba[material, :3] = rng.uniform(*SURFACE_RGB, 3)
            repeat[material] = rng.uniform(*span)
        return dict(mat_texid=texid, mat_rgba=rgba, mat_texrepeat=repeat)

    def _draw_object_colors(self, rng: np.random.Generator, data) -> dict[str, np.ndarray]:
        rgba = self._geom_rgba.copy()
        for geoms in self._object_geoms.values():
            colour = rng.uniform(*OBJECT_RGB, 3)
            brightness = self._geom_rgba[geoms, :3].max(axis=1)
            # the object's brightest part gets the colour (an all-black object: every part)
            shade = brightness / brightness.max() if brightness.max() > 0 else np.ones(len(geoms))
            rgba[geoms, :3] = colour * shade[:, None]
        return dict(geom_rgba=rgba)

    def _draw_camera(self, rng: np.random.Generator, data) -> dict[str, np.ndarray]:
        ref, n = self._cameras, len(self._cameras["fovy"])
        turn = Rotation.from_euler("xyz", rng.uniform(-CAMERA_ROT_JITTER_RAD, CAMERA_ROT_JITTER_RAD, (n, 3)))
        quat = (Rotation.from_quat(ref["quat"], scalar_first=True) * turn).as_quat(scalar_first=True)
        return dict(
            cam_pos=ref["pos"] + rng.uniform(-CAMERA_POS_JITTER_M, CAMERA_POS_JITTER_M, (n, 3)),
            cam_quat=quat,
            cam_fovy=ref["fovy"] + rng.uniform(-CAMERA_FOVY_JITTER_DEG, CAMERA_FOVY_JITTER_DEG, n),
        )

    def _draw_distractors(self, rng: np.random.Generator, data) -> dict[str, np.ndarray]:
        m, ids = self.model, self._distractors
        mujoco.mj_kinematics(m, data)  # where the reset put the objects (mj_forward follows anyway)
        occupied = [(data.geom_xpos[g, :2], m.geom_rbound[g]) for g in self._object_all_geoms]
        size, pos = m.geom_size[ids].copy(), m.geom_pos[ids].copy()
        quat, rgba = m.geom_quat[ids].copy(), m.geom_rgba[ids].copy()
        rgba[:, 3] = 0.0  # hidden unless placed
        shown = rng.choice(len(ids), rng.integers(DISTRACTORS_SHOWN[0], DISTRACTORS_SHOWN[1] + 1), replace=False)
        lo, hi = -self._table_half + TABLE_EDGE_MARGIN_M, self._table_half - TABLE_EDGE_MARGIN_M
        for k in sorted(shown):
            size[k], height, radius = _shape_size(int(m.geom_type[ids[k]]), rng.uniform(*DISTRACTOR_HALF_M, 3))
            colour, yaw = rng.uniform(*DISTRACTOR_RGB, 3), rng.uniform(-np.pi, np.pi)
            candidates = rng.uniform(lo, hi, (PLACEMENT_TRIES, 2))
            free = [
                xy
                for xy in candidates
                if all(np.linalg.norm(xy - c) > r + radius + DISTRACTOR_CLEARANCE_M for c, r in occupied)
            ]
            if not free:
                continue
            pos[k] = (*free[0], self._table_top_z + height)
            quat[k] = Rotation.from_euler("z", yaw).as_quat(scalar_first=True)
            rgba[k] = (*colour, 1.0)
            occupied.append((free[0], radius))
        return dict(geom_size=size, geom_pos=pos, geom_quat=quat, geom_rgba=rgba)

    # ------------------------------------------------------------------ writing
    def apply(self) -> None:
        """Write the current draw into the model (after a reset, and after anything that rewrote
        model fields, e.g. a restored state's object variants)."""
        m = self.model
        for factor, fields in self._draw.items():
            for field, value in fields.items():
                if factor == "distractors":  # only the distractors' rows
                    getattr(m, field)[self._distractors] = value
                elif factor == "object_colors":  # only the objects' geoms
                    geoms = np.concatenate(list(self._object_geoms.values())) if self._object_geoms else []
                    m.geom_rgba[geoms] = value[geoms]
                elif field.startswith("head_"):
                    setattr(m.vis.headlight, field.removeprefix("head_"), value)
                else:
                    getattr(m, field)[...] = value


def _subtree(model: mujoco.MjModel, root: int) -> list[int]:
    """`root` and every body below it."""
    out = []
    for body in range(model.nbody):
        b = body
        while b > 0 and b != root:
            b = int(model.body_parentid[b])
        if b == root:
            out.append(body)
    return out


def _shape_size(shape: int, half: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A primitive's `geom_size` from half extents (m), the height of its centre when it rests
    upright on the table, and the radius of its footprint."""
    g = mujoco.mjtGeom
    if shape == g.mjGEOM_BOX:
        return half, half[2], float(np.linalg.norm(half[:2]))
    if shape == g.mjGEOM_SPHERE:
        return np.array([half[0], 0, 0]), half[0], half[0]
    if shape == g.mjGEOM_CAPSULE:  # the radius and the half length of the cylinder part
        return np.array([half[0], half[2], 0]), half[0] + half[2], half[0]
    if shape == g.mjGEOM_CYLINDER:
        return np.array([half[0], half[2], 0]), half[2], half[0]
    return half, half[2], float(max(half[:2]))  # ellipsoid
