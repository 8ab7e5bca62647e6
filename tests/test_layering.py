"""The layers: media/ and storage/ stay free of Prefect and of each other; records/ (the domain) and
reports/ (rendering) know no Prefect, no CLI and no flows; only flows/ orchestrates."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "media": {"prefect", "flows", "storage", "records", "reports", "boto3", "botocore"},
    "storage": {"prefect", "flows", "media", "records", "reports"},
    "records": {"prefect", "flows", "reports", "typer", "rich"},
    "reports": {"prefect", "flows", "typer"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_forbidden_import_statements(layer):
    offenders = {
        str(p.relative_to(ROOT)): sorted(imported_roots(p) & FORBIDDEN[layer]) for p in (ROOT / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_importing_a_layer_loads_nothing_forbidden(layer):
    """Import every module of the layer in a fresh interpreter and look at sys.modules."""
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted((ROOT / layer).rglob("*.py"))
        if p.name != "__main__.py"
    ]
    allowed_extra = {"boto3", "botocore"} if layer == "storage" else set()
    code = (
        "import importlib, sys, json\n"
        f"for m in {modules!r}:\n    importlib.import_module(m)\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(__import__("json").loads(out.stdout))
    assert loaded & (FORBIDDEN[layer] - allowed_extra) == set()


def test_flows_never_import_the_command_line():
    """Flows and tasks run under Prefect workers too: none may need the CLI (flows/cli/ is above them)."""
    offenders = {}
    for p in sorted((ROOT / "flows").glob("*.py")):
        if p.name == "__main__.py":  # ``python -m flows`` is the command line
            continue
        tree = ast.parse(p.read_text(), filename=str(p))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        names |= {f"flows.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "flows"
                  for a in n.names}
        bad = sorted(m for m in names if m == "flows.cli" or m.startswith("flows.cli.") or m in ("typer", "rich"))
        if bad:
            offenders[p.name] = bad
    assert offenders == {}


# -- records/ has no import cycle, not even through deferred (function-level) imports ----------------
def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports_anywhere(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names: at the top, in functions, in classes, in
    ``try`` blocks. Only ``if TYPE_CHECKING:`` blocks are left out: they never run (annotations)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # ``from records import audit``
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return names


def records_import_graph() -> dict[str, set[str]]:
    """records.* module -> the records.* modules it imports, function-level imports included."""
    modules = {_module_name(p): p for p in sorted((ROOT / "records").rglob("*.py"))}
    return {m: {n for n in _imports_anywhere(p) if n in modules and n != m} for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]], within: set[str] | None = None) -> list[str] | None:
    """One cycle of ``graph`` (among the nodes ``within``) as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if within is not None and nxt not in within:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(within if within is not None else graph):
        if start not in state and (found := dfs(start)):
            return found
    return None


def tangles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module: the modules that import one
    another, however indirectly."""
    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {m: reach(m) for m in graph}
    found: list[set[str]] = []
    for m in sorted(graph):
        component = {m} | {n for n in reachable[m] if m in reachable[n]}
        if len(component) > 1 and component not in found:
            found.append(component)
    return found


def test_the_cycle_finders_see_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert tangles(graph) == [{"a", "b", "c"}]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert tangles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_records_has_no_import_cycle():
    """A cycle hidden in function-level imports is a cycle all the same: the modules cannot be
    understood, tested or loaded one without the others."""
    graph = records_import_graph()
    found = [f"{sorted(t)}, e.g. {' -> '.join(find_cycle(graph, t))}" for t in tangles(graph)]
    assert found == [], "records/ modules that import one another: " + "; ".join(found)


#: Modules a command or a worker loads just to read the configuration, check a role or write an
#: audit event: none of them may pay for PyAV or NumPy.
LIGHT_RECORDS = ["records.settings", "records.roles", "records.store", "records.retention", "records.audit",
                 "records.identity"]


@pytest.mark.parametrize("module", LIGHT_RECORDS)
def test_settings_and_audit_load_no_av_or_numpy(module):
    code = f"import sys, json, {module}\nprint(json.dumps(sorted(m for m in ('av', 'numpy') if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert __import__("json").loads(out.stdout) == [], f"import {module} loads PyAV or NumPy"


@pytest.mark.parametrize("package", ["media.archive", "media.gaps", "media.text"])
def test_lazy_package_exports_resolve(package):
    """The thin ``__init__``s (media/lazy.py) still give every name they list, and none of them is
    a submodule's name (importing the submodule would rebind it to the module)."""
    import importlib.util

    mod = importlib.import_module(package)
    for name in mod.__all__:
        assert importlib.util.find_spec(f"{package}.{name}") is None, f"{package}.{name} is a submodule"
        assert not isinstance(getattr(mod, name), type(mod)), name
    assert set(mod.__all__) <= set(dir(mod))
