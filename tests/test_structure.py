"""The package's shape: data flows one way and no module imports itself back (imports inside
functions count too), `datasets` is pure input/output, and no generator or task names a hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dexbench

ROOT = Path(dexbench.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_no_module_imports_itself_back():
    graph = _import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_data_flows_one_way():
    graph = _import_graph()
    for module, targets in graph.items():
        if module.startswith("dexbench.envs"):
            assert not {t for t in targets if not t.startswith("dexbench.envs") and t != "dexbench"}, module
        if module.startswith("dexbench.datasets"):
            assert not {
                t
                for t in targets
                if t.startswith(
                    ("dexbench.generators", "dexbench.policies", "dexbench.evaluation", "dexbench.pipelines")
                )
            }, module


def test_one_worker_fan_out():
    """Processes and Ray tasks are started in one place (`parallel.py`), the evaluation sandbox's
    too; `datasets/` starts neither (pure input/output)."""
    starts = re.compile(r"get_context\(|ProcessPoolExecutor|ray\.remote\(|multiprocessing\.Pool|SubprocVecEnv")
    found = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") if starts.search(p.read_text()))
    assert found == ["parallel.py"], found
    for path in (ROOT / "datasets").rglob("*.py"):
        assert not re.search(r"^\s*(from|import) (multiprocessing|concurrent|ray)\b", path.read_text(), re.M), path
        assert "dexbench.parallel" not in path.read_text() and "dexbench.backends" not in path.read_text(), path


def test_no_generator_or_task_compares_a_hand_name():
    hand_names = re.compile(r"""["'](dex_hand|panda_gripper)["']|hand\.name\b|hand_name""")
    for folder in ("generators", "envs/tasks"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not hand_names.search(path.read_text()), path


def test_the_cli_sits_on_top():
    """Nothing below the command line imports it: `dexbench.cli` is one package, its modules named
    after the command groups."""
    graph = _import_graph()
    for module, targets in graph.items():
        if not module.startswith("dexbench.cli"):
            assert not {t for t in targets if t == "dexbench.cli" or t.startswith("dexbench.cli.")}, module
    assert not [p for p in ROOT.rglob("cli*.py") if p.parent.name != "cli"]
