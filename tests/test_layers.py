"""The folder tree shows the architecture: a module imports only from its own layer or below, and no two
modules import each other, directly or round a loop (STYLE.md, "Layout").

Every `import` and `from ... import` of `src/actorcritic` counts, also those inside functions: an import
deferred into a function is still a dependency, and the usual way a cycle hides."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "actorcritic"

LAYERS = (
    ("errors", "schedules", "config", "storage"),  # foundation: no RL, no environments (schedules: config values)
    ("core",),  # the lecture's math: estimators, losses, optimiser steps, normalisation, distributions
    ("nets",),  # networks and their NumPy acting copies
    ("envs",),  # vector environments, seeding, exact resume, evaluation, Atari
    ("language",),  # sequence models, tasks, sampler and GRPO objectives for language models
    ("algorithms",),  # the engines, collectors, one file per algorithm, the registry
    ("analysis",),  # statistics, reading runs, plots, reports
    ("runs",),  # run directories, metrics logs, seed groups, export
    ("sweeps",),  # the sweep file, trials, local and Ray backends
    ("experiments",),  # one file per reproduced claim
    ("cli",),  # the command and its flags
)
"""Lowest first; the one place the order is written."""

FACADES = {"actorcritic", "actorcritic.__main__"}
"""The package's public face (`from actorcritic import PPO`) and `python -m actorcritic`: above every layer."""


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    if module in FACADES:
        return len(LAYERS)
    top = module.split(".")[1]
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS in {Path(__file__).name}")


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The actorcritic modules `path` imports (for `from package import name`, the submodule if `name` is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "actorcritic"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "actorcritic":
            assert node.level == 0, f"{path}: relative import; write the absolute actorcritic.… path"
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in SOURCE.rglob("*.py")}
    graph = {module: imported_modules(path, set(paths)) for module, path in paths.items()}
    for module, targets in graph.items():
        # importing a.b.c runs a/__init__ and a/b/__init__ too
        # (a package's own __init__, which Python runs before any of its modules, is no dependency of them)
        ancestors = set(_with_parents(module))
        graph[module] = {
            parent for target in targets for parent in _with_parents(target) if parent in paths
        } - ancestors
    return graph


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(2, len(parts) + 1)]


def test_every_module_belongs_to_a_layer():
    for module in import_graph():
        if module not in ("actorcritic",):
            layer_of(module)


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in import_graph().items()
        for target in targets
        if target != "actorcritic" and layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    graph = import_graph()
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("package", ["core"])
def test_the_math_layer_needs_no_environment_and_no_files(package):
    """core/ is torch and NumPy only: no gymnasium, no file formats, no process or file-system calls."""
    forbidden = {"gymnasium", "safetensors", "json", "os", "shutil", "subprocess", "pathlib"}
    for path in (SOURCE / package).rglob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & forbidden, f"{path.relative_to(SOURCE)} imports {sorted(imported & forbidden)}"
