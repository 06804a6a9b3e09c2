"""The house rule: an import only points to a lower floor (README, "Architecture").

Every ``import`` of gtforge code in every module, function-level imports included, is read with
``ast`` and checked against the floor table below. Imports within one package are free; imports
between two packages of the same floor (``scenes`` and ``render``, ``pipeline`` and ``inspection``)
are sideways and fail, and so does any import of a higher floor.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package -> floor; the root package ``gtforge`` (``__init__``: the version) is shared vocabulary
FLOORS = {
    "gtforge": 0, "core": 0,
    "formats": 1,
    "config": 2,
    "assets": 3,
    "scenes": 4, "render": 4,
    "pipeline": 5, "inspection": 5, "compare": 5,
    "tune": 6,
    "cli": 7,
}
#: packages that may import only from these (besides themselves): the oracle stays independent
ONLY = {"inspection": {"gtforge", "core", "formats"}, "compare": {"gtforge", "core", "formats"}, "core": {"gtforge"}}
PACKAGES = [p for p in FLOORS if p not in ("gtforge", "cli")]


def modules():
    """(package, module name, path) of every gtforge module."""
    yield "gtforge", "gtforge", ROOT / "__init__.py"
    yield "cli", "gtforge.cli", ROOT / "cli.py"
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).glob("*.py")):
            name = f"gtforge.{pkg}" if path.stem == "__init__" else f"gtforge.{pkg}.{path.stem}"
            yield pkg, name, path


def from_target(name: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` in module ``name`` (a package's ``__init__`` when ``is_pkg``)
    reads from."""
    if not node.level:
        return node.module or ""
    base = name.split(".")
    base = base[: len(base) - node.level + (1 if is_pkg else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def gtforge_imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of gtforge code in a module, at any depth of the code."""
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            target = from_target(name, is_pkg, node)
            if target == "gtforge" or target.startswith("gtforge."):
                targets = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
                out += [(node.lineno, t) for t in targets]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "gtforge"]
    return out


def package_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__version__":
        return "gtforge"
    return parts[1]


def test_every_package_has_a_floor():
    dirs = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in ("tests",)}
    assert dirs == set(PACKAGES), f"place new packages in FLOORS (and the README): {sorted(dirs ^ set(PACKAGES))}"


def test_imports_only_point_down():
    bad = []
    for pkg, name, path in modules():
        for line, target in gtforge_imports(name, path):
            tpkg = package_of(target)
            if tpkg not in FLOORS:
                bad.append(f"{path.relative_to(ROOT)}:{line}: imports {target} (package not in FLOORS)")
            elif tpkg == pkg:
                continue
            elif FLOORS[tpkg] >= FLOORS[pkg] and tpkg != "gtforge":
                bad.append(f"{path.relative_to(ROOT)}:{line}: {pkg} (floor {FLOORS[pkg]}) imports {target} "
                           f"(floor {FLOORS[tpkg]})")
            elif pkg in ONLY and tpkg not in ONLY[pkg]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {pkg} may import only {sorted(ONLY[pkg])}; got {target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from ..core.geometry import make_pose", "gtforge.core.geometry"),
    ("from .. import __version__", "gtforge.__version__"),
    ("from .bop import x", "gtforge.formats.bop"),
    ("import gtforge.scenes.ar", "gtforge.scenes.ar"),
])
def test_the_import_reader_resolves_relative_imports(tmp_path, source, expected):
    p = tmp_path / "coco.py"
    p.write_text(f"def f():\n    {source}\n")
    assert [t for _, t in gtforge_imports("gtforge.formats.coco", p)] == [expected]


def test_a_planted_upward_import_is_caught(tmp_path):
    p = tmp_path / "geometry.py"
    p.write_text("def f():\n    from ..render.renderer import Renderer\n")
    (_, target), = gtforge_imports("gtforge.core.geometry", p)
    assert FLOORS[package_of(target)] > FLOORS["core"]


# ---------------------------------------------------------------- import circles
def import_graph() -> dict[str, set[str]]:
    """{module: gtforge modules it imports} over every gtforge module, function-level imports included.

    ``from .pkg import name`` points to the module ``pkg.name`` when there is one, else to ``pkg`` (its
    ``__init__``); an import of a module does not count as an import of the packages above it (Python runs
    their ``__init__`` first, but a package's ``__init__`` importing its own modules is no circle)."""
    known = {name for _, name, _ in modules()}
    graph: dict[str, set[str]] = {name: set() for name in known}
    for _, name, path in modules():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                target = from_target(name, is_pkg, node)
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in known:  # gtforge.__version__ -> gtforge; third-party names drop out
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    """No two gtforge modules import each other, directly or through others, at module or function level: a
    circle makes import order matter and hides which module owns a shared fact (move it one floor lower)."""
    cycles = import_cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_a_planted_import_circle_is_caught():
    graph = import_graph()
    assert "gtforge.assets.loaders" in graph["gtforge.assets.collision"]  # a real edge, read from the code
    graph["gtforge.assets.loaders"] = graph["gtforge.assets.loaders"] | {"gtforge.assets.collision"}  # one back
    assert ["gtforge.assets.collision", "gtforge.assets.loaders"] in import_cycles(graph)
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
