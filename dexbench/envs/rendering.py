"""Offscreen rendering of an env's cameras, in one of two looks: `fast` and `default`.

Software OpenGL (Mesa llvmpipe, what a CPU-only machine has) pays for render passes, samples
and lit vertices far more than for image pixels: with the model's own settings an 84-px frame
costs about as much as a 256-px one. The `fast` preset, for image observations, removes what costs
most and a policy does not need (docs/rendering.md measures each switch):

- shadows: a second pass that renders the scene into a 1024-px shadow map, every frame;
- multisampling: the offscreen buffer is drawn 4 times over and resolved on every read;
- an offscreen buffer the size of the image, not MuJoCo's 1024 x 1024 maximum: no faster
  once multisampling is off, but each renderer holds kilobytes instead of tens of megabytes;
- reflections: the reflective floor draws the whole scene a second time, mirrored;
- finer tessellation than an 84-px image can show: MuJoCo lights every vertex, and a capsule
  of 28 x 16 facets has four times the vertices of one of 12 x 8;
- the skybox (4-15 % of a fast frame; the background turns black) and the haze (free, but it
  only blends the floor's edge into the skybox).

What is left is mostly vertex work: an 8-px frame costs three quarters of an 84-px one.

The `default` preset is the model's own look (task cards, `dexbench render`, videos): it gives
the same pixels as `mujoco.Renderer(model, height, width)`.

Rendering never touches physics: the renderer reads `MjData` and writes only its own scene
and GL buffers, so state observations and dynamics are the same with and without images.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class RenderPreset:
    """A look: which render passes run and how finely MuJoCo builds its shapes.

    `None` keeps the model's own value (`model.vis.quality`, `model.vis.global_`).
    """

    name: str
    shadows: bool
    reflections: bool
    skybox: bool
    haze: bool
    multisamples: int | None  # offscreen multisampling (vis.quality.offsamples)
    buffer_fits_image: bool  # offscreen buffer = image size instead of vis.global_.offwidth/height
    shadow_map_px: int | None  # vis.quality.shadowsize; 0 allocates no shadow map
    tessellation: tuple[int, int, int] | None  # (numslices, numstacks, numquads) of built-in shapes


RENDER_PRESETS = {
    # 12 x 8 facets keep a capsule round at 256 px; 1 quad per box face is what a box needs
    # without per-pixel lighting (subdivision only smooths spot and shadow edges).
    "fast": RenderPreset(
        "fast",
        shadows=False,
        reflections=False,
        skybox=False,
        haze=False,
        multisamples=0,
        buffer_fits_image=True,
        shadow_map_px=0,
        tessellation=(12, 8, 1),
    ),
    "default": RenderPreset(
        "default",
        shadows=True,
        reflections=True,
        skybox=True,
        haze=True,
        multisamples=None,
        buffer_fits_image=False,
        shadow_map_px=None,
        tessellation=None,
    ),
}


def preset_by_name(name: str | RenderPreset) -> RenderPreset:
    """The preset called `name` (or `name` itself if it is a preset); a clear error otherwise."""
    if isinstance(name, RenderPreset):
        return name
    if not isinstance(name, str) or name not in RENDER_PRESETS:
        raise ValueError(
            f"unknown render preset {name!r}; choose one of {', '.join(RENDER_PRESETS)} "
            "('fast' for observations, 'default' for the model's own look)"
        )
    return RENDER_PRESETS[name]


def _visual_model(model: mujoco.MjModel, preset: RenderPreset, height: int, width: int) -> mujoco.MjModel:
    """A copy of `model` whose visual settings are the preset's. The GL context reads them once,
    when it is made; the env's own model (saved into datasets) is never changed."""
    visual = copy.copy(model)
    quality = visual.vis.quality
    if preset.multisamples is not None:
        quality.offsamples = preset.multisamples
    if preset.shadow_map_px is not None:
        quality.shadowsize = preset.shadow_map_px
    if preset.tessellation is not None:
        quality.numslices, quality.numstacks, quality.numquads = preset.tessellation
    if preset.buffer_fits_image:
        visual.vis.global_.offwidth, visual.vis.global_.offheight = width, height
    return visual


class CameraRenderer:
    """Renders named cameras of one model at one image size in one preset.

    `render(data, cameras)` builds the scene (geoms, lights) once and, for every further
    camera, only moves the camera (`mjv_updateCamera`) and remakes the lights (the headlight
    follows the camera): the geoms do not depend on the camera, and the images are the same
    bits as a full scene update per camera.
    The scene is built from the live `model` (geom sizes and colours the object axis may
    change at reset); only the GL context comes from the preset's copy.
    """

    def __init__(self, model: mujoco.MjModel, height: int, width: int, preset: str | RenderPreset = "fast") -> None:
        self.model, self.preset = model, preset_by_name(preset)
        self.height, self.width = int(height), int(width)
        self._renderer = mujoco.Renderer(
            _visual_model(model, self.preset, self.height, self.width), self.height, self.width
        )
        flags = self._renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.preset.shadows
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = self.preset.reflections
        flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = self.preset.skybox
        flags[mujoco.mjtRndFlag.mjRND_HAZE] = self.preset.haze
        self._option = mujoco.MjvOption()
        self._cameras: dict[str, mujoco.MjvCamera] = {}

    def _camera(self, name: str) -> mujoco.MjvCamera:
        camera = self._cameras.get(name)
        if camera is None:
            camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            if camera_id < 0:
                names = [self.model.camera(i).name for i in range(self.model.ncam)]
                raise ValueError(f"unknown camera {name!r}; this model has {', '.join(names)}")
            camera = self._cameras[name] = mujoco.MjvCamera()
            camera.type, camera.fixedcamid = mujoco.mjtCamera.mjCAMERA_FIXED, camera_id
        return camera

    def render(self, data: mujoco.MjData, cameras: list[str] | tuple[str, ...]) -> list[np.ndarray]:
        """One RGB image (H, W, 3) uint8 per camera, of the state in `data`."""
        scene, images = self._renderer.scene, []
        for i, name in enumerate(cameras):
            camera = self._camera(name)
            if i == 0:
                mujoco.mjv_updateScene(self.model, data, self._option, None, camera, mujoco.mjtCatBit.mjCAT_ALL, scene)
            else:  # the headlight sits at the camera: lights are remade after it moves
                mujoco.mjv_updateCamera(self.model, data, camera, scene)
                mujoco.mjv_makeLights(self.model, data, scene)
            images.append(self._renderer.render())
        return images

    def close(self) -> None:
        self._renderer.close()
