"""One module per embodiment; EMBODIMENTS maps names to their classes."""

from dexbench.envs.embodiments.base import ARMS, Embodiment
from dexbench.envs.embodiments.gr1 import GR1
from dexbench.envs.embodiments.panda import Panda
from dexbench.envs.embodiments.panda_dex import PandaDex

EMBODIMENTS: dict[str, type[Embodiment]] = {cls.name: cls for cls in (Panda, PandaDex, GR1)}

__all__ = ["ARMS", "EMBODIMENTS", "Embodiment", "GR1", "Panda", "PandaDex"]
