"""Imports only point down: every import of the server's code, read with ``ast``.

The layers (docs/architecture.md, "The layers") are listed top to bottom in ``LAYERS``.  A
module may import from its own layer and the layers below it, never from one above,
wherever the import stands: at the top of the module, inside a function, or under
``TYPE_CHECKING``.  Packages (and the top-level modules of ``toolbox``, each a unit of its
own) must not import each other in a circle, whatever their layers.  ``toolbox.agent`` and
``toolbox.cli`` are separate: each imports nothing of the server's, and nothing imports them.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = ("toolbox", "handlers")

# Top to bottom; a module belongs to the entry with the longest prefix matching its name.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("toolbox.__main__",),  # the ``toolbox`` command: hands the handlers' routes to the server
    ("handlers", "toolbox.handlers"),  # the handlers/ folder, installed as toolbox.handlers
    ("toolbox.server",),
    ("toolbox.alerts",),  # alert rules over the rounds, alerts, channels: built on watch
    ("toolbox.watch",),  # schedules and series: built on jobs, tasks and agents
    ("toolbox.core",),
    ("toolbox.presenters",),
    ("toolbox.people",),
    ("toolbox.tools",),
    ("toolbox.store",),
    ("toolbox.validation", "toolbox.task_states", "toolbox.clock", "toolbox.jsontext"),
    ("toolbox.errors", "toolbox"),  # ``toolbox`` itself: the package's __init__ (its version)
)
WHOLE_NAMES = {"toolbox"}  # entries naming one module, not a prefix: a new toolbox.X has no layer until given one
SEPARATES = ("toolbox.agent", "toolbox.cli")  # the reference agent and tbx: clients of the server's HTTP only


def separate_of(name: str) -> str | None:
    """The separate package ``name`` is in, or None."""
    return next((root for root in SEPARATES if name == root or name.startswith(root + ".")), None)


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(name: str) -> bool:
    return (ROOT.joinpath(*name.split(".")) / "__init__.py").is_file()


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def ours(name: str) -> bool:
    return name.split(".")[0] in SOURCES


def imports_of(name: str, source: str) -> list[tuple[int, str]]:
    """(line, module imported) for every import of our code in ``source``, wherever it stands."""
    package = name if is_package(name) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if ours(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            if not ours(origin):
                continue
            for alias in node.names:  # ``from toolbox import clock`` imports the module toolbox.clock
                candidate = f"{origin}.{alias.name}"
                found.append((node.lineno, candidate if is_module(candidate) else origin))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and ours(node.args[0].value)):
            found.append((node.lineno, node.args[0].value))
    return found


def layer_of(name: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = name == prefix or (prefix not in WHOLE_NAMES and name.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return None if best is None else best[1]


def unit_of(name: str) -> str:
    """The package a module counts in for cycles; the top-level modules of toolbox count alone."""
    if is_package(name):
        return name
    package = name.rpartition(".")[0]
    return name if package == "toolbox" else package


def all_modules() -> dict[str, tuple[pathlib.Path, str]]:
    modules = {}
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            modules[module_name(path)] = (path, path.read_text(encoding="utf-8"))
    return modules


def upward_imports(modules: dict[str, tuple[pathlib.Path, str]]) -> list[str]:
    """One line per import that runs up a layer, out of the agent, or into it."""
    problems = []
    for name, (path, source) in modules.items():
        here = layer_of(name)
        where = path.relative_to(ROOT)
        for line, target in imports_of(name, source):
            inside, into = separate_of(name), separate_of(target)
            if inside or into:
                if inside != into:
                    problems.append(f"{where}:{line}: {name} imports {target}: {inside or into} shares nothing "
                                    "with the server")
                continue
            there = layer_of(target)
            if here is None or there is None:
                problems.append(f"{where}:{line}: {name if here is None else target} is in no layer "
                                "(add it to LAYERS in tests/test_layers.py and to docs/architecture.md)")
            elif there < here:
                problems.append(f"{where}:{line}: {name} imports {target}, a layer above it "
                                f"({LAYERS[there][0]} is above {LAYERS[here][0]})")
    return problems


def package_cycles(modules: dict[str, tuple[pathlib.Path, str]]) -> list[str]:
    """One line per package that another package it imports leads back to (with the import)."""
    edges: dict[str, dict[str, str]] = {}  # unit -> unit it imports -> where (first line seen)
    for name, (path, source) in modules.items():
        for line, target in imports_of(name, source):
            a, b = unit_of(name), unit_of(target)
            if a != b:
                edges.setdefault(a, {}).setdefault(b, f"{path.relative_to(ROOT)}:{line}")

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            unit = todo.pop()
            if unit == goal:
                return True
            if unit not in seen:
                seen.add(unit)
                todo.extend(edges.get(unit, ()))
        return False

    return [f"{where}: {a} imports {b}, which leads back to {a}"
            for a, targets in sorted(edges.items()) for b, where in sorted(targets.items()) if reaches(b, a)]


def test_every_import_points_down():
    problems = upward_imports(all_modules())
    assert not problems, "imports that run up a layer:\n" + "\n".join(problems)


def test_no_two_packages_import_each_other_in_a_circle():
    problems = package_cycles(all_modules())
    assert not problems, "import cycles between packages:\n" + "\n".join(problems)


def test_every_module_is_in_a_layer():
    missing = [name for name in all_modules() if layer_of(name) is None and not separate_of(name)]
    assert not missing


# --- the checks themselves catch what they are for ---


def fake(**sources: str) -> dict[str, tuple[pathlib.Path, str]]:
    return {name: (ROOT.joinpath(*name.split(".")).with_suffix(".py"), text) for name, text in sources.items()}


@pytest.mark.parametrize("source", [
    "from toolbox.server.config import Config\n",
    "import toolbox.server.config\n",
    "def later():\n    from toolbox.server import config\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toolbox.server.config import Config\n",
    "import importlib\nimportlib.import_module('handlers.base')\n",
])
def test_an_upward_import_is_named_with_its_line(source):
    problems = upward_imports(fake(**{"toolbox.core.tasks.service": source}))
    assert len(problems) == 1
    line = source.count("\n", 0, source.index("toolbox.server" if "server" in source else "handlers")) + 1
    assert problems[0].startswith(f"toolbox/core/tasks/service.py:{line}: toolbox.core.tasks.service imports ")


def test_relative_and_downward_imports_pass():
    assert not upward_imports(fake(**{
        "toolbox.core.tasks.service": "from toolbox import clock\nfrom toolbox.store.db import Doc\nfrom . import claims\n",
        "toolbox.tools.parsers.ping": "from ._common import Parsed\n",
    }))


def test_the_agent_and_the_server_share_nothing():
    problems = upward_imports(fake(**{"toolbox.agent.cli": "from toolbox import clock\n",
                                      "toolbox.server.main": "from toolbox.agent import cli\n"}))
    assert len(problems) == 2


def test_a_module_given_no_layer_is_named():
    problems = upward_imports(fake(**{"toolbox.scheduler": "from toolbox import clock\n"}))
    assert problems == ["toolbox/scheduler.py:1: toolbox.scheduler is in no layer "
                        "(add it to LAYERS in tests/test_layers.py and to docs/architecture.md)"]


def test_a_cycle_between_packages_is_named():
    problems = package_cycles(fake(**{"toolbox.core.jobs.service": "from toolbox.people import users\n",
                                      "toolbox.people.users": "\n\nfrom toolbox.core.jobs.service import JobService\n"}))
    assert "toolbox/people/users.py:3: toolbox.people imports toolbox.core.jobs, which leads back to toolbox.people" \
        in problems
    assert len(problems) == 2
