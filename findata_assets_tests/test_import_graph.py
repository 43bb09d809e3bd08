"""No import cycle between the package's modules: every import counts, the lazy ones inside
functions and the `TYPE_CHECKING` ones included (a cycle hidden in a function is still one)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "findata_assets"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                # `from pkg import sub` depends on the submodule, `from mod import name` on mod
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            graph[module] |= {t for t in map(known, targets) if t and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack, on_stack, found = [], set(), []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_detector_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_the_packages_modules():
    graph = import_graph()
    assert "findata_assets.eastmoney.client" in graph  # the graph is the package's
    assert "findata_assets.eastmoney.snapshot" in graph["findata_assets.eastmoney.parsing"]
    assert cycles(graph) == []


def part_of(module: str) -> str:
    """The package's parts: its top-level modules and packages, and each area under defs/."""
    names = module.split(".")[1:]
    if not names:
        return "findata_assets"
    return ".".join(names[:2]) if names[0] == "defs" and len(names) > 1 else names[0]


def part_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    parts: dict[str, set[str]] = {}
    for module, targets in graph.items():
        deps = parts.setdefault(part_of(module), set())
        deps |= {part_of(t) for t in targets} - {part_of(module)}
    return parts


def test_no_import_cycle_between_the_packages_parts():
    parts = part_graph(import_graph())
    assert {"eastmoney", "storage", "settings", "cli", "defs.eastmoney", "defs.refresh"} <= set(parts)
    assert cycles(parts) == []


def package_of(module: str) -> str:
    """The top-level package (or module) a module belongs to: defs, deploy, housekeeping, ..."""
    names = module.split(".")[1:]
    return names[0] if names else "findata_assets"


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        deps = packages.setdefault(package_of(module), set())
        deps |= {package_of(t) for t in targets} - {package_of(module)}
    return packages


def test_no_import_cycle_between_the_top_level_packages():
    """Finer parts can be acyclic while their packages are not (defs.eastmoney -> deploy ->
    defs.storage): code below defs/ never reaches up into it."""
    graph = import_graph()
    packages = package_graph(graph)
    assert {"defs", "deploy", "housekeeping", "resources", "storage"} <= set(packages)
    assert cycles(packages) == []
    # the check sees such a cycle: the deploy hook importing a resource from defs/ again
    graph["findata_assets.deploy.prepare"].add("findata_assets.defs.storage.resources")
    assert ["defs", "deploy"] in cycles(package_graph(graph))


def test_the_domain_core_imports_neither_dagster_nor_the_wiring():
    """The catalog, snapshot, parsing, client, errors, calendar, settings and the stores' code
    run without Dagster: a notebook or another scheduler can use them as they are."""
    graph = import_graph()
    core = ("eastmoney", "storage", "analysis", "report", "settings", "trading_calendar",
            "environment", "redaction", "cancellation")
    for module, path in _modules().items():
        if part_of(module) not in core:
            continue
        wiring = {t for t in graph[module] if part_of(t).startswith(("defs", "cli"))}
        assert not wiring, (module, wiring)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                    for a in n.names}
        imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
                     if isinstance(n, ast.ImportFrom) and not n.level}
        assert "dagster" not in imported, module


def test_the_environment_is_read_in_one_module():
    allowed = PACKAGE / "environment.py"
    readers = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p != allowed and any(word in p.read_text(encoding="utf-8")
                                       for word in ("os.environ", "getenv", "putenv"))]
    assert readers == []


def test_the_core_loads_without_dagster():
    """Importing the domain (the package's __init__ included) does not load Dagster."""
    import subprocess
    import sys

    core = ["findata_assets.eastmoney.client", "findata_assets.eastmoney.parsing",
            "findata_assets.storage.warehouse", "findata_assets.storage.object_store",
            "findata_assets.analysis.narrative", "findata_assets.analysis.digest",
            "findata_assets.report.markdown", "findata_assets.settings",
            "findata_assets.trading_calendar"]
    code = f"import sys\nfor m in {core!r}: __import__(m)\nprint('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
