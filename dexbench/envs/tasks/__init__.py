"""One module per task; TASKS maps task names to their classes."""

from dexbench.envs.tasks.base import Task
from dexbench.envs.tasks.pouring import Pouring
from dexbench.envs.tasks.tray_lift import TrayLift

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (TrayLift, Pouring)}
