"""The layering of engine/, read from the imports of every module (ast, nothing imported).

A floor: a module (or package) that must not import anything above it. Function-level imports
count too: a lazy import is still a dependency. No cycles anywhere in engine/, and the stages
(engine/'s folders: project, rules, plans, render, run, tools) import one way (the last tests).
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_statements(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of every import in the file, at any depth, relative ones made absolute:
    `import X` gives (X, []), `from X import y, z` gives (X, [y, z])."""
    module = _name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                yield ".".join(base + ([node.module] if node.module else [])), [a.name for a in node.names]
            else:
                yield node.module or "", [a.name for a in node.names]


def _imports(path: Path) -> set[str]:
    """Every module named by an import in the file; for `from X import y` both X and X.y (y
    may be a submodule)."""
    out: set[str] = set()
    for source, names in _import_statements(path):
        out.add(source)
        out.update(f"{source}.{name}" for name in names)
    return out


GRAPH = {_name(p): _imports(p) for p in sorted(ENGINE.rglob("*.py"))}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offenders(modules: tuple[str, ...], banned: tuple[str, ...],
               exempt: tuple[str, ...] = ()) -> dict[str, list[str]]:
    return {m: sorted(i for i in imports if _within(i, banned))
            for m, imports in GRAPH.items()
            if _within(m, modules) and m not in exempt and any(_within(i, banned) for i in imports)}


def test_the_graph_covers_engine():
    assert "engine.rules.durable" in GRAPH and "engine.plans.store.db" in GRAPH and len(GRAPH) > 50


def test_only_the_durable_adapter_imports_durable_rules():
    # engine/rules/durable.py drives the durable_rules_engine extension; everything else goes through it
    assert _offenders(("engine",), ("durable", "durable_rules", "durable_rules_engine")) == {
        "engine.rules.durable": ["durable_rules_engine"]}


def test_nothing_in_engine_imports_the_cli_the_bench_or_the_tests():
    assert _offenders(("engine",), ("cli", "bench", "tests", "conftest")) == {}


# what evaluates accounts or reads them: the rules, the run, the tools, the project's checks
EVALUATION = ("engine.rules", "engine.run", "engine.tools", "engine.project.checks")
RENDERING = ("engine.render",)  # the documents, and the worklist (engine/render/worklist/)


def test_the_store_imports_no_rendering_and_no_run():
    assert _offenders(("engine.plans",), RENDERING + ("engine.run", "engine.rules")) == {}


def test_the_store_imports_no_evaluation_at_all():
    # `kam explain --run` evaluates a stored run again: engine/tools/audit.py, a tool above the store, not in it
    assert _offenders(("engine.plans",), EVALUATION) == {}


def test_the_store_reads_files_only_for_the_done_import():
    # engine/plans/store/done_import.py reads the managers' done-file through engine.io; no other store module reads
    assert _offenders(("engine.plans",), ("engine.io",), exempt=("engine.plans.store.done_import",)) == {}


def test_readers_know_only_the_model_and_errors():
    # engine/io/ turns files into records: it may know the project's metrics and how cells meet
    # them (engine/project/cells.py), never what evaluates them
    allowed = ("engine.io", "engine.errors", "engine.project.model", "engine.project.cells")
    assert {m: sorted(i for i in imports if i.startswith("engine") and not _within(i, allowed))
            for m, imports in GRAPH.items() if _within(m, ("engine.io",))
            if any(i.startswith("engine") and not _within(i, allowed) for i in imports)} == {}


def test_the_bottom_layers_import_nothing_of_engine_above_them():
    assert _offenders(("engine.errors", "engine.project.expr"), ("engine",)) == {}
    assert _offenders(("engine.project.model",),
                      EVALUATION + RENDERING + ("engine.plans", "engine.io", "engine.project.load")) == {}


_SHARED = re.compile(r"(^|[/\\])shared([/\\]|$)")


def test_engine_never_reads_a_shared_folder_beside_the_project():
    found = [f"{p.relative_to(ROOT)}:{n.lineno}" for p in sorted(ENGINE.rglob("*.py"))
             for n in ast.walk(ast.parse(p.read_text("utf-8")))
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and _SHARED.search(n.value)]
    assert found == []


# ---- import cycles --------------------------------------------------------------------------

def _module_imports(path: Path) -> set[str]:
    """The engine modules the file imports, at any depth of the code (a function's import and
    one under `if TYPE_CHECKING:` count). `from X import y` is an import of the module X.y
    when there is one, else of X: `from . import views` depends on views, not on the package
    that holds it. (Python also runs a package's __init__ before any module of it; that is no
    dependency of the module's own, and counting it would make every package a cycle.)"""
    module = _name(path)
    found: set[str] = set()
    for source, names in _import_statements(path):
        if not names:
            found.add(source)
        found.update(f"{source}.{name}" if f"{source}.{name}" in GRAPH else source for name in names)
    out = set()
    for name in found:
        while name and name not in GRAPH:  # `import engine.x.y` of a name in it: the module that has it
            name = name.rpartition(".")[0]
        if name and name != module:
            out.add(name)
    return out


MODULES = {_name(p): _module_imports(p) for p in sorted(ENGINE.rglob("*.py"))}


def _cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The modules that import each other in a loop, one sorted tuple per loop (the strongly
    connected components of more than one module), sorted."""
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(graph.get(m, ()))
        reach[start] = seen
    return sorted({tuple(sorted(w for w in reach[m] if m in reach.get(w, ()))) for m in graph if m in reach[m]})


def _described(cycles: list[tuple[str, ...]]) -> str:
    """Each loop with the imports that close it, one a line, for a failure message."""
    return "\n".join(", ".join(c) + ": " + "; ".join(f"{m} -> {', '.join(sorted(MODULES[m] & set(c)))}" for m in c)
                     for c in cycles)


def test_the_cycle_finder_finds_loops_and_only_loops():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d", "f"}, "f": {"e"}, "g": {"a"}}
    assert _cycles(graph) == [("a", "b", "c"), ("e", "f")]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_module_graph_resolves_submodules():
    # `from . import views, labels` (render/__init__-style): the submodules, not the package
    assert {"engine.render.views", "engine.render.labels"} <= MODULES["engine.render"]
    assert "engine.render" not in MODULES["engine.render.aggregate"]
    assert "engine.render.limits" in MODULES["engine.render.templates"]


def test_no_import_cycles_in_engine():
    # every module of engine/ imports one way: no loop, however long, at any depth of the code
    cycles = _cycles(MODULES)
    assert not cycles, "import cycles in engine/:\n" + _described(cycles)


# ---- the stages -----------------------------------------------------------------------------
# engine/'s folders are the stages the data goes through: the project is loaded and checked
# (project/), its rules compiled and fired on one account (rules/), plans kept across runs
# (plans/), documents written (render/); a run puts them together over a whole portfolio
# (run/), and the tools work on top of a run (tools/), cli.py on top of everything. At
# engine/'s top level: errors, hints, i18n and result, which every stage may use, and io/,
# the readers and writers of files, which stands on the project (its record converters type
# each cell as the project's model declares, engine/io/records.py) and serves the stages
# above it. Each stage imports only what it stands on:
#
#   shared <- project <- rules ---------+
#                     <- io <- plans <--+- render <- run <- tools <- cli.py
#
# rules and plans stand side by side: the rules read no files and the store never evaluates.
STANDS_ON = {
    "shared": (),
    "project": ("shared",),
    "io": ("project", "shared"),
    "rules": ("project", "shared"),
    "plans": ("io", "project", "shared"),
    "render": ("rules", "plans", "io", "project", "shared"),
    "run": ("render", "rules", "plans", "io", "project", "shared"),
    "tools": ("run", "render", "rules", "plans", "io", "project", "shared"),
}
SHARED = ("engine.errors", "engine.hints", "engine.i18n", "engine.result")  # and engine/__init__.py

# Imports against the stages, each as (importer, imported) with its reason. None today: a
# wrong-way import is fixed by moving the piece it needs, else listed here and explained.
EXCEPTIONS: set[tuple[str, str]] = set()


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STANDS_ON and parts[1] != "shared" else "shared"


def _against_the_stages() -> set[tuple[str, str]]:
    """(importer, imported) of every module import that a stage does not stand on."""
    return {(m, i) for m, imports in MODULES.items() for i in imports
            if _stage(i) != _stage(m) and _stage(i) not in STANDS_ON[_stage(m)]}


def test_every_module_is_in_a_stage_or_shared():
    # engine/'s top level keeps only what several stages share; a new module goes in its stage's folder
    assert sorted(m for m in MODULES if _stage(m) == "shared" and m != "engine" and not _within(m, SHARED)) == []
    assert {_stage(m) for m in MODULES} == set(STANDS_ON)


def test_the_stages_import_only_the_stages_they_stand_on():
    assert sorted(_against_the_stages() - EXCEPTIONS) == []


def test_every_exception_is_still_an_import_against_the_stages():
    assert sorted(EXCEPTIONS - _against_the_stages()) == []


def test_the_stage_order_is_one_way():
    # STANDS_ON has no loop: no stage stands on itself, and each stands on all its own stages stand on
    for stage, below in STANDS_ON.items():
        assert stage not in below
        for b in below:
            assert set(STANDS_ON[b]) <= set(below), (stage, b)


def test_the_stage_finder_reads_the_folders():
    assert [_stage(m) for m in ("engine", "engine.result", "engine.io.records", "engine.project",
                                "engine.project.load", "engine.rules.durable", "engine.plans.store.db",
                                "engine.render.worklist.ics", "engine.run", "engine.tools.audit")] == [
        "shared", "shared", "io", "project", "project", "rules", "plans", "render", "run", "tools"]
