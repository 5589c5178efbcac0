"""The layering of engine/, read from the imports of every module (ast, nothing imported).

A floor: a module (or package) that must not import anything above it. Function-level imports
count too: a lazy import is still a dependency. And no cycles: rendering's modules import
one way (the last tests).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module named by an import in the file, relative ones made absolute; for
    `from X import y` both X and X.y (y may be a submodule)."""
    module = _name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            out.add(source)
            out.update(f"{source}.{a.name}" for a in node.names)
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
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.update(f"{source}.{a.name}" if f"{source}.{a.name}" in GRAPH else source for a in node.names)
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


def test_no_import_cycles_in_rendering():
    # the rendering stage imports one way: render/__init__ -> aggregate -> report/ and views/
    # -> templates, labels, limits. When this was written there was no cycle anywhere in
    # engine/; the message lists every cycle of engine/, the assertion holds rendering only
    cycles = _cycles(MODULES)
    assert not [c for c in cycles if any(_within(m, ("engine.render",)) for m in c)], \
        "import cycles in engine/ (rendering's must go):\n" + _described(cycles)
