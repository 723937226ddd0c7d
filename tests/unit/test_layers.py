"""The layers of etl (docs/layout.md): imports flow one way and form no cycle.

Every import counts, including those inside functions (the cycles this project
once had, cli <-> demo and pipeline <-> updates, hid there). The package root
`etl/__init__.py` is a facade (it may expose `etl.connect` lazily) and is left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import etl

PACKAGE = Path(etl.__file__).resolve().parent
LAYERS = {"config": 0, "errors": 0, "days": 0, "store": 1, "ingest": 2, "model": 3,
          "serve": 4, "run": 5, "api": 5, "cli": 6}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        if name == "etl":
            continue
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("etl."):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("etl."))
        graph[name] = found
    return graph


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[1]]


def test_every_module_belongs_to_a_layer() -> None:
    assert {m.split(".")[1] for m in _imports()} <= set(LAYERS)


def test_imports_flow_one_way() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in _imports().items() for target in targets
        if _layer(target) > _layer(module)
    )
    assert upward == []


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle met by a depth-first walk, as the path that closes it."""
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycle() -> None:
    graph = _imports()
    graph = {m: {t for t in targets if t in graph} for m, targets in graph.items()}
    assert find_cycles(graph) == []


def test_the_cycle_search_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]


def test_the_days_stages_read_the_lakes_input_prefixes() -> None:
    """status (serve) and the demo name the lake's inputs by etl.store.lake.INPUT_PREFIXES;
    the day-runner declares its stages in etl.run.day: the two lists must agree."""
    from etl.run.day import audited_stages
    from etl.store.lake import INPUT_PREFIXES

    assert audited_stages() == list(INPUT_PREFIXES)


def test_no_engine_branch_outside_the_adapters() -> None:
    """What an engine does its own way lives in its adapter (etl/store/engines, the Spark
    engine's etl/store/spark.py) and its SQL fragments (etl/store/dialects.py): nothing
    else tests an engine's name (docs/layout.md, "Engines as adapters")."""
    import re

    branch = re.compile(r"dialect\s*(==|!=)|\.dialect\s+(not\s+)?in\b")
    owners = (PACKAGE / "store" / "engines", PACKAGE / "store" / "spark.py", PACKAGE / "store" / "dialects.py")
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(path == owner or owner in path.parents for owner in owners)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if branch.search(line)
    ]
    assert found == []

