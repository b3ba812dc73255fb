"""The package's shape: its layers (pyproject.toml, [tool.importlinter]: no upward import, no import cycle) and
ruff's lint and format rules (pyproject.toml, [tool.ruff])."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_module_imports_only_from_the_layers_below_it():
    """import-linter's layers contract covers function-level imports too, so a cycle hidden inside a
    function still breaks it."""
    lint = pathlib.Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout[-3000:]


def import_graph(package: pathlib.Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, function-level imports included; ``from a.b import c`` imports
    the package ``a.b`` (its ``__init__`` runs) and, where c is a module, ``a.b.c``."""
    files = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in files.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def test_no_import_cycle_between_any_modules():
    """Within a layer too (the layers contract only orders the layers): no strongly connected component of more
    than one module in the import graph."""
    graph = import_graph(ROOT / "src" / "vlmq")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for nxt in graph[module]:
            if nxt not in index:
                visit(nxt)
                low[module] = min(low[module], low[nxt])
            elif nxt in stack:
                low[module] = min(low[module], index[nxt])
        if low[module] == index[module]:
            component = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not cycles, cycles


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = pathlib.Path(sys.executable).with_name("ruff")
    return subprocess.run([str(ruff), *args, "src", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True)


def test_ruff_lint_is_clean():
    done = _ruff("check")
    assert done.returncode == 0, done.stdout[-3000:]


def test_ruff_format_is_clean():
    done = _ruff("format", "--check")
    assert done.returncode == 0, done.stdout[-3000:]
