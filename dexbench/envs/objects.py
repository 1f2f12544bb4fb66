"""The object axis (O): variants of a task's free objects (size, primitive shape, mass, friction).

A task lists, per free object, the variants it may take (`Task.object_variants`); the first is
the reference object. An env made with `object_variants="reference"` (the default, and the
published ids) never looks at them. With `"random"` every reset draws one variant per object
from the seed (after everything else, so the placements are the reference mode's for the same
seed), or `{"cube_right": "large"}` fixes some. The drawn indices live in MuJoCo's userdata, so a stored
state restores them; the env then copies the model fields that differ (sizes, inertias, bounding
volumes, friction, ...) from a model compiled once per combination with the variants applied to
its `MjSpec`, so MuJoCo derives every dependent quantity itself. Such an env also observes each
object's variant (`<object>_variant`: its scales, mass, friction and shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

SHAPES = {
    "box": mujoco.mjtGeom.mjGEOM_BOX,
    "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
    "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
}
STAT_FIELDS = ("meaninertia", "meanmass", "meansize")  # solver scaling follows the inertias


@dataclass(frozen=True)
class ObjectVariant:
    """One variant of a free object. Sizes scale about the body's origin (its geoms' sizes and
    positions); an object whose origin rests on the table (or at its centre) keeps that."""

    name: str
    scale_xy: float = 1.0  # horizontal size
    scale_z: float = 1.0  # height
    mass: float = 1.0  # the object's mass relative to the reference (whatever the size)
    friction: float = 1.0  # sliding friction relative to the reference
    shape: str | None = None  # a one-geom object's primitive becomes this ("box", "cylinder", "sphere")

    def __post_init__(self) -> None:
        for key in ("scale_xy", "scale_z", "mass", "friction"):
            value = getattr(self, key)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"object variant {self.name!r}: {key} must be a positive number, got {value!r}")
        if self.shape is not None and self.shape not in SHAPES:
            raise ValueError(f"object variant {self.name!r}: shape must be one of {list(SHAPES)}, got {self.shape!r}")


# What a policy sees of an object's variant (the `<object>_variant` observation, O-axis envs only).
VARIANT_FEATURES = ("scale_xy", "scale_z", "mass", "friction", "cylinder", "sphere")


def variant_features(variant: ObjectVariant) -> np.ndarray:
    return np.array(
        [
            variant.scale_xy,
            variant.scale_z,
            variant.mass,
            variant.friction,
            variant.shape == "cylinder",
            variant.shape == "sphere",
        ],
        dtype=np.float64,
    )


def apply_variant(body: mujoco.MjsBody, variant: ObjectVariant) -> None:
    """Change the object's geoms in the MjSpec (before compiling)."""
    sxy, sz = variant.scale_xy, variant.scale_z
    geoms = list(body.geoms)
    if variant.shape is not None and len(geoms) != 1:
        raise ValueError(
            f"object variant {variant.name!r} changes the shape of {body.name!r}, which has "
            f"{len(geoms)} geoms: shapes change only for one-primitive objects"
        )
    volume = sxy * sxy * sz
    for geom in geoms:
        quat = np.asarray(geom.quat, dtype=float)
        if not np.allclose(quat[1:3], 0.0):  # only turned about z: the scale axes stay the geom's
            raise ValueError(f"{body.name!r} has a geom tilted out of the horizontal: it cannot be scaled")
        geom.pos = np.asarray(geom.pos) * [sxy, sxy, sz]
        size = np.asarray(geom.size, dtype=float).copy()
        kind = geom.type
        if variant.shape is not None:
            half = (
                size
                if kind == mujoco.mjtGeom.mjGEOM_BOX
                else np.array([size[0], size[0], size[1] if kind == mujoco.mjtGeom.mjGEOM_CYLINDER else size[0]])
            )
            kind = SHAPES[variant.shape]
            size = {
                mujoco.mjtGeom.mjGEOM_BOX: half,
                mujoco.mjtGeom.mjGEOM_CYLINDER: np.array([min(half[:2]), half[2], 0.0]),
                mujoco.mjtGeom.mjGEOM_SPHERE: np.array([min(half), 0.0, 0.0]),
            }[kind]
            geom.type = kind
        if kind == mujoco.mjtGeom.mjGEOM_BOX:
            size *= [sxy, sxy, sz]
        elif kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
            size[:2] *= [sxy, sz]
        elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            if sxy != sz:
                raise ValueError(f"object variant {variant.name!r}: a sphere scales evenly (scale_xy == scale_z)")
            size[0] *= sxy
        else:
            raise ValueError(f"{body.name!r} has a geom of type {kind}: only boxes, cylinders and spheres scale")
        geom.size = size
        if np.isfinite(geom.mass) and geom.mass > 0:
            geom.mass = geom.mass * variant.mass
        else:  # density-defined: keep the object's total mass at `mass` times the reference
            geom.density = geom.density * variant.mass / volume
        geom.friction = np.asarray(geom.friction) * [variant.friction, 1.0, 1.0]


class ObjectAxis:
    """The compiled variant models of one env, and the fields to copy from them."""

    def __init__(
        self, mj_spec: mujoco.MjSpec, variants: dict[str, tuple[ObjectVariant, ...]], reference: mujoco.MjModel
    ) -> None:
        self._mj_spec, self._variants, self._reference = mj_spec, variants, reference
        self._models: dict[tuple[int, ...], tuple[mujoco.MjModel, list[str]]] = {}

    def apply(self, model: mujoco.MjModel, indices: tuple[int, ...]) -> None:
        """Give `model` the variants `indices` (one per object, in `variants` order)."""
        if indices not in self._models:
            mj_spec = self._mj_spec.copy()
            for (name, options), k in zip(self._variants.items(), indices):
                apply_variant(mj_spec.body(name), options[k])
            compiled = mj_spec.compile()
            changed = [
                f
                for f in _array_fields(compiled)
                if not np.array_equal(getattr(compiled, f), getattr(self._reference, f))
            ]
            self._models[indices] = (compiled, changed)
        source, _ = self._models[indices]
        for field in self._changed_union():
            getattr(model, field)[...] = getattr(source, field)
        for field in STAT_FIELDS:
            setattr(model.stat, field, getattr(source.stat, field))

    def _changed_union(self) -> set[str]:
        """Every field any variant changed: a field that one combination changed must be put back
        when the next one leaves it at the reference's value."""
        return set().union(*(changed for _, changed in self._models.values()))


def _array_fields(model: mujoco.MjModel) -> list[str]:
    return [
        name
        for name in dir(model)
        if not name.startswith("_") and isinstance(getattr(model, name), np.ndarray) and getattr(model, name).size
    ]
