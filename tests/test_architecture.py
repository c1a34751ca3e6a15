"""The import structure stays as ARCHITECTURE.md draws it: no import loop anywhere in
src/vaelab, and the config layer never imports a component (it reads the registries of
vaelab/concepts.py, which load their packages on first use)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
COMPONENT_PACKAGES = ("vaelab.priors", "vaelab.likelihoods", "vaelab.networks",
                      "vaelab.objectives", "vaelab.data.datasets", "vaelab.posteriors",
                      "vaelab.data.dsprites", "vaelab.data.shapes")


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "vaelab").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every vaelab module ``name`` imports, at the top or inside a function, including
    imports only for type checking. ``from package import submodule`` is an arrow to the
    submodule (a package's __init__ that only hands names on is not a hop)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & set(known)
            found.update(submodules)
            if len(submodules) < len(node.names) and base in known:
                found.add(base)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    for node in graph:
        if node not in index:
            visit(node)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for other in graph[todo.pop()]:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def test_no_import_loop_in_the_package():
    assert loops(import_graph()) == []


def test_config_imports_no_component():
    graph = import_graph()
    below_config = reachable(graph, "vaelab.config")
    components = sorted(m for m in below_config if m.startswith(COMPONENT_PACKAGES))
    assert components == []


def test_components_do_not_import_the_config():
    graph = import_graph()
    for name in graph:
        if name.startswith(COMPONENT_PACKAGES):
            assert "vaelab.config" not in reachable(graph, name), name


def test_the_checker_finds_a_loop():
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


ARCHITECTURE = SRC.parent / "ARCHITECTURE.md"


def layer_table() -> dict[str, int]:
    """ARCHITECTURE.md's layer table (its one home) as {module prefix: layer}:
    `errors` → vaelab.errors, `networks/` → every module of vaelab.networks."""
    prefixes: dict[str, int] = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if len(cells) < 4 or not cells[1].strip()[:1].isdigit():
            continue
        layer = int(cells[1].strip().split(".")[0])
        for quoted in cells[2].split("`")[1::2]:
            prefixes["vaelab." + quoted.strip("/").replace("/", ".")] = layer
    return prefixes


def layer_of(module: str, prefixes: dict[str, int]) -> int | None:
    """The layer of the longest listed prefix of ``module`` (a package's own layer holds
    for its submodules unless one is listed on its own)."""
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        prefix = ".".join(parts[:end])
        if prefix in prefixes:
            return prefixes[prefix]
    return None


# Entry points above every layer: they may import anything and nothing imports them.
ABOVE_THE_LAYERS = {"vaelab", "vaelab.__main__"}


def test_every_module_has_a_layer_in_architecture_md():
    prefixes = layer_table()
    assert len(set(prefixes.values())) == 9, "ARCHITECTURE.md's layer table was not read"
    missing = sorted(m for m in modules() if m not in ABOVE_THE_LAYERS
                     and layer_of(m, prefixes) is None)
    assert missing == [], f"add these modules to ARCHITECTURE.md's layer table: {missing}"


def test_no_module_imports_from_a_layer_above_its_own():
    prefixes = layer_table()
    upward = []
    for name, targets in import_graph().items():
        own = layer_of(name, prefixes)
        if own is None:
            continue
        for target in targets:
            other = layer_of(target, prefixes)
            if other is not None and other > own:
                upward.append(f"{name} (layer {own}) imports {target} (layer {other})")
    assert sorted(upward) == []
