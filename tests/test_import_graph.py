"""No import cycles in nbmodels, function-level imports included.

The graph is read from the source with `ast`, not from `sys.modules`, so an import inside a
function (run only when the function is) counts as much as one at the top of a module: a
cycle hidden in a function still ties two modules together, and breaks the first time
someone moves that import to the top.

What counts as an edge A -> B (A imports B), for every import statement anywhere in A (module
level, functions, methods, `try`/`if` blocks alike):

- `import nbmodels.x.y` -> `nbmodels.x.y`.
- `from P import name` -> `P.name` when that is a module (`from nbmodels.data import registry`),
  else `P` itself: the name is defined (or re-exported) by `P`'s module or `__init__`. Relative
  imports are resolved against A's package first.
- Lazy names: a package whose `__init__` hands its `_LAZY`-style map (name -> module) to
  `nbmodels._lazy.lazy_attributes` imports that module on first access, so `from P import name`
  for a lazy `name` also counts as A -> the module the map names. The map itself gives `P` no
  edge: importing `P` imports none of those modules (that is what keeps `import nbmodels`
  light), and an attribute access `P.name` after `import P` is not an import statement.

Parent packages: importing `nbmodels.data.text.tokenizers` first runs `nbmodels/__init__`,
`nbmodels/data/__init__` and `nbmodels/data/text/__init__`. These implicit child -> parent
edges are NOT counted. Every module has them, and with them every `__init__` that re-exports a
child (`P -> P.child`) would be a two-module cycle; Python resolves that pattern by design (the
package is in `sys.modules` before its `__init__` runs, and the child does not read the
package's namespace). What a child writes explicitly does count: `from nbmodels.data import
load` inside a module that `nbmodels/data/__init__` imports is a cycle through a partly
initialised package, which works or fails depending on the order of the `__init__`'s lines.
"""

from __future__ import annotations

import ast
import textwrap
from collections import deque
from pathlib import Path

import nbmodels

LAZY_MAP_FACTORY = "lazy_attributes"  # nbmodels._lazy.lazy_attributes(package, names, namespace)


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> source file, for every `.py` file of the package under `root`."""
    files = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def lazy_map(tree: ast.Module, path: Path) -> dict[str, str]:
    """The `name -> module` map a package `__init__` gives `lazy_attributes`, or {} if none."""
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == LAZY_MAP_FACTORY
    ]
    if not calls:
        return {}
    names = calls[0].args[1] if len(calls[0].args) > 1 else None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(names, ast.Name)
            and any(getattr(target, "id", None) == names.id for target in node.targets)
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(
        f"{path}: {LAZY_MAP_FACTORY}(...) must get a dict literal assigned at module level, so this "
        "test can read which modules its lazy names import."
    )


def _base_of_from_import(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def import_graph(root: Path, package: str) -> dict[str, dict[str, int]]:
    """Module -> {imported module of the same package: line of the first such import}."""
    files = module_files(root, package)
    trees = {module: ast.parse(path.read_text(encoding="utf-8"), str(path)) for module, path in files.items()}
    lazy = {module: lazy_map(tree, files[module]) for module, tree in trees.items() if files[module].stem == "__init__"}
    graph = {}
    for module, tree in trees.items():
        is_package = files[module].stem == "__init__"
        edges = {}

        def add(target, line):
            if target in files and target != module:
                edges.setdefault(target, line)

        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                base = _base_of_from_import(node, module, is_package)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    add(submodule if submodule in files else base, node.lineno)
                    add(lazy.get(base, {}).get(alias.name), node.lineno)
        graph[module] = edges
    return graph


def strongly_connected_components(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that can each reach every other one."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def shortest_cycle(graph: dict[str, dict[str, int]], start: str, members: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside `members` (breadth first)."""
    previous = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph[node]):
            if target not in members or target in previous:
                continue
            previous[target] = node
            if target == start:
                path = [start]
                while path[-1] != start or len(path) == 1:
                    path.append(previous[path[-1]])
                return path[::-1]
            queue.append(target)
    raise AssertionError(f"{start} is in no cycle")


def cyclic_groups(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The groups of two or more modules that import each other, directly or through the others."""
    return sorted(group for group in strongly_connected_components(graph) if len(group) > 1)


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One shortest cycle per cyclic group, from the group's first module."""
    return [shortest_cycle(graph, group[0], set(group)) for group in cyclic_groups(graph)]


def describe(graph: dict[str, dict[str, int]], cycle: list[str]) -> str:
    steps = [f"{a} (line {graph[a][b]}) imports {b}" for a, b in zip(cycle, cycle[1:])]
    return "\n    ".join(steps)


def test_nbmodels_has_no_import_cycles():
    root = Path(nbmodels.__file__).parent.parent
    graph = import_graph(root, "nbmodels")
    groups = cyclic_groups(graph)
    report = "\n".join(
        f"  {', '.join(group)} import each other; one cycle:\n    {describe(graph, cycle)}"
        for group, cycle in zip(groups, import_cycles(graph))
    )
    assert not groups, f"nbmodels has {len(groups)} group(s) of modules that import each other:\n{report}"


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")


def test_finds_cycles_through_function_level_relative_and_lazy_imports(tmp_path):
    write_package(
        tmp_path,
        {
            # Re-exports a child eagerly and another lazily: neither is a cycle by itself.
            "pkg/__init__.py": """
                from pkg.a import A
                from pkg._lazy import lazy_attributes
                _LAZY = {"Late": "pkg.late"}
                __getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
            """,
            "pkg/_lazy.py": "def lazy_attributes(package, names, namespace): ...\n",
            # a <-> b: b's import of a is relative and inside a function.
            "pkg/a.py": "from pkg import b\nclass A: ...\n",
            "pkg/b.py": "def f():\n    from . import a\n",
            # Dotted imports and parent packages alone make no cycle.
            "pkg/c.py": "import pkg.a\nfrom pkg.sub.d import D\n",
            "pkg/sub/__init__.py": "from .d import D\n",
            "pkg/sub/d.py": "from ..a import A\nclass D: ...\n",
            # late <-> e through the lazy name: `from pkg import Late` imports pkg.late.
            "pkg/late.py": "from pkg import A\ndef g():\n    from pkg.sub import e\nclass Late: ...\n",
            "pkg/sub/e.py": "from pkg import Late\n",
        },
    )
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.b"] == {"pkg.a": 2}
    assert graph["pkg.sub.d"] == {"pkg.a": 1}
    assert graph["pkg.sub.e"] == {"pkg": 1, "pkg.late": 1}
    assert set(graph["pkg"]) == {"pkg.a", "pkg._lazy"}  # the lazy map imports nothing by itself
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.late", "pkg.sub.e", "pkg.late"]]
    assert describe(graph, ["pkg.a", "pkg.b", "pkg.a"]) == (
        "pkg.a (line 1) imports pkg.b\n    pkg.b (line 2) imports pkg.a"
    )


def test_a_child_that_imports_from_its_re_exporting_package_is_a_cycle(tmp_path):
    # The package's __init__ imports the child, and the child reads a name from the package:
    # the child runs while the package is half initialised.
    write_package(tmp_path, {"pkg/__init__.py": "from pkg.a import A\n", "pkg/a.py": "from pkg import A\n"})
    assert import_cycles(import_graph(tmp_path, "pkg")) == [["pkg", "pkg.a", "pkg"]]
