"""Demonstration generators: scripted source demonstrators and data generators (plug-ins).

Data generators are found by name through the `dexbench.generators` entry-point group (see
`dexbench.generators.base`); `get_generator(name)` loads one, `available_generators()` lists
the names without importing anything.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata

ENTRY_POINT_GROUP = "dexbench.generators"


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    # Looked up through the module attribute on every call (tests and plug-ins may add some).
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)  # the first on sys.path wins, as for imports
    return found


def registered_entry_point(name: str) -> importlib.metadata.EntryPoint | None:
    """The entry point that registers the generator `name` (its class, distribution and
    version), or None; nothing is imported."""
    return _entry_points().get(name)


def available_generators() -> list[str]:
    """Names of the registered generators (built-in and third-party), sorted."""
    return sorted(_entry_points())


def get_generator(name: str) -> type:
    """The generator class registered as `name` under the `dexbench.generators` entry points.

    Raises KeyError naming the available generators for an unknown name, and ImportError (with
    the entry point's target) when the plug-in cannot be imported.
    """
    from dexbench.generators.base import Generator

    eps = _entry_points()
    if name not in eps:
        close = difflib.get_close_matches(name, list(eps), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"no generator {name!r}; available: {', '.join(sorted(eps)) or '(none)'}.{hint} "
            f"Third-party generators register under the {ENTRY_POINT_GROUP!r} entry-point group."
        )
    try:
        cls = eps[name].load()
    except Exception as err:  # any import failure of a plug-in
        raise ImportError(f"generator {name!r} ({eps[name].value}) failed to import: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, Generator)):
        raise TypeError(f"generator {name!r} ({eps[name].value}) is not a dexbench.generators.base.Generator subclass")
    return cls


def class_ref(cls: type) -> str:
    """`module:QualName` of a class, to import it again in a worker process."""
    return f"{cls.__module__}:{cls.__qualname__}"


def load_class_ref(ref: str) -> type:
    module, _, qualname = ref.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


__all__ = [
    "ENTRY_POINT_GROUP",
    "available_generators",
    "class_ref",
    "get_generator",
    "load_class_ref",
    "registered_entry_point",
]
