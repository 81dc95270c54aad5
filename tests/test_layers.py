"""The package's layers, read from every module's imports (``ast``), bottom to top:

    errors, lazy, log, seeding  →  hooks  →  core  →  tasks, runs, plugins, distributed, bus
    →  trainer (the facade)  →  compat
    →  cli, config, report, testing, datasets, lr_finder, examples

A module imports only from its own layer or below (its own layer without a cycle between
top-level packages); ``core`` imports only ``hooks``, ``errors`` and ``log``, also under
``TYPE_CHECKING``. Elsewhere an import under ``TYPE_CHECKING`` may name a type from above
(the spec names ``core`` types, as pytest's hookspec does). Imports inside functions count;
``from unitrain import __version__`` names the package face, which Python has imported before
any module of the package, and adds no dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "unitrain"

LAYERS: list[set[str]] = [
    {"errors", "lazy", "log", "seeding"},
    {"hooks"},
    {"core"},
    {"tasks", "runs", "plugins", "distributed", "bus"},
    {"trainer"},
    {"compat"},
    {"cli", "config", "report", "testing", "datasets", "lr_finder", "examples"},
    {"__init__", "__main__"},  # the package's face and the command line's entry
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
CORE_MAY_IMPORT = {"core", "hooks", "errors", "lazy", "log"}


@dataclass(frozen=True)
class Import:
    source: str  # top-level unit of the importing file: "core", "trainer", "__init__" ...
    target: str  # top-level unit imported
    where: str  # path:line
    type_only: bool


def unit_of(path: Path, root: Path) -> str:
    """The top-level package (or module) a file belongs to."""
    return path.relative_to(root).parts[0].removesuffix(".py")


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in (n for statement in node.body for n in ast.walk(statement)):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    lines.add(inner.lineno)
    return lines


def _absolute(node: ast.ImportFrom, module_parts: list[str]) -> str:
    """The absolute module of a relative ``from . import x``."""
    base = module_parts[: len(module_parts) - node.level]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(root: Path) -> Iterator[Import]:
    """Every import of a ``unitrain`` unit by another unit, in every module under ``root``."""
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        type_only = _type_checking_lines(tree)
        parts = ["unitrain", *path.relative_to(root).with_suffix("").parts]
        package = parts[:-1]  # where a relative import starts (a package's own __init__ too)
        source = unit_of(path, root)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    modules = [_absolute(node, [*package, "_"])]
                else:
                    modules = [node.module or ""]
                if modules == ["unitrain"]:  # from unitrain import core, __version__ ...
                    modules = [f"unitrain.{alias.name}" for alias in node.names]
                    # a name of the package face: Python has imported the face before any
                    # module of the package, so naming it adds no dependency
                    modules = [
                        m
                        for m in modules
                        if (root / m.split(".")[1]).exists()
                        or (root / f"{m.split('.')[1]}.py").exists()
                    ]
            else:
                continue
            for module in modules:
                names = module.split(".")
                if names[0] != "unitrain" or len(names) < 2 or names[1] == source:
                    continue
                where = f"{path.relative_to(root.parent)}:{node.lineno}"
                yield Import(source, names[1], where, node.lineno in type_only)


def layer_problems(root: Path) -> list[str]:
    """Every import that breaks the layering, and every cycle between units."""
    problems: list[str] = []
    edges: dict[str, dict[str, str]] = {}
    for found in imports_of(root):
        source, target = found.source, found.target
        if source not in RANK or target not in RANK:
            unknown = source if source not in RANK else target
            problems.append(f"{found.where}: unit {unknown!r} has no layer (add it to LAYERS)")
            continue
        if source == "core" and target not in CORE_MAY_IMPORT:
            kind = "under TYPE_CHECKING " if found.type_only else ""
            problems.append(
                f"{found.where}: core imports {target} {kind}(core imports only hooks, errors, "
                "log; name a type from above through a Protocol in hooks or core)"
            )
            continue
        if found.type_only:
            continue
        if RANK[target] > RANK[source]:
            problems.append(f"{found.where}: {source} imports {target}, a layer above it")
        edges.setdefault(source, {}).setdefault(target, found.where)
    problems.extend(_cycles(edges))
    return problems


def _cycles(edges: dict[str, dict[str, str]]) -> list[str]:
    found: list[str] = []
    seen: set[tuple[str, ...]] = set()

    def visit(node: str, path: list[str]) -> None:
        for following in sorted(edges.get(node, {})):
            if following in path:
                cycle = path[path.index(following) :]
                key = tuple(sorted(cycle))
                if key not in seen:
                    seen.add(key)
                    ring = " -> ".join([*cycle, following])
                    found.append(f"{edges[node][following]}: package cycle {ring}")
            elif len(path) < len(RANK):
                visit(following, [*path, following])

    for start in sorted(edges):
        visit(start, [start])
    return found


def test_the_package_keeps_its_layers() -> None:
    problems = layer_problems(PACKAGE)
    assert not problems, "\n".join(problems)


def test_every_unit_has_a_layer() -> None:
    units = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py"}
    units |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert units <= set(RANK), sorted(units - set(RANK))


def _write(root: Path, files: dict[str, str]) -> Path:
    package = root / "unitrain"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"core/__init__.py": "", "core/engine.py": "\nfrom unitrain.runs import x\n"},
            "unitrain/core/engine.py:2: core imports runs",
        ),
        (
            {
                "core/__init__.py": "",
                "core/state.py": (
                    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                    "    from unitrain.plugins.lr import S\n"
                ),
            },
            "unitrain/core/state.py:3: core imports plugins under TYPE_CHECKING",
        ),
        (
            {"hooks/__init__.py": "", "hooks/specs.py": "def f():\n    import unitrain.tasks\n"},
            "unitrain/hooks/specs.py:2: hooks imports tasks, a layer above it",
        ),
        (
            {"runs/__init__.py": "from . import a\n", "runs/a.py": "from ..compat import t\n"},
            "unitrain/runs/a.py:1: runs imports compat, a layer above it",
        ),
        (
            {
                "runs/__init__.py": "",
                "runs/a.py": "from unitrain.plugins import p\n",
                "plugins/__init__.py": "",
                "plugins/p.py": "import unitrain.runs.a\n",
            },
            "package cycle plugins -> runs -> plugins",
        ),
    ],
    ids=["core-up", "core-type-checking", "lazy-up", "relative-up", "cycle"],
)
def test_the_check_names_the_file_and_line(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    problems = layer_problems(_write(tmp_path, files))
    assert any(expected in problem for problem in problems), problems


def test_type_checking_imports_may_name_types_from_above(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "hooks/__init__.py": "",
            "hooks/specs.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from unitrain.core.state import State\n"
            ),
            "core/__init__.py": "",
            "core/state.py": "from unitrain.hooks import specs\n",
        },
    )
    assert layer_problems(package) == []


def test_the_spec_names_no_plugin() -> None:
    # the contract names the engine's types only; a plugin's type would make every plugin's
    # module part of the spec
    spec = [i for i in imports_of(PACKAGE) if i.where.startswith("unitrain/hooks/specs.py")]
    assert {i.target for i in spec} <= {"core", "bus"}, spec
