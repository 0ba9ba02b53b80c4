"""The package's shape: no import cycle among textmetric's modules, and the ranking module a leaf."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "textmetric"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """The textmetric modules ``path`` imports when it is imported (not inside functions or TYPE_CHECKING)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found & modules


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: top_level_imports(path, set(files)) - {name} for name, path in files.items()}


def test_no_module_imports_itself_through_others():
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(name, path):
        state[name] = "open"
        for child in sorted(graph[name]):
            assert state.get(child) != "open", f"import cycle: {' -> '.join(path + [child])}"
            if child not in state:
                visit(child, path + [child])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_ranking_module_imports_nothing_of_textmetric():
    assert import_graph()["textmetric.search.ranking"] == set()


def test_storage_modules_do_not_import_the_retriever():
    graph = import_graph()
    for name in graph:
        if name.startswith("textmetric.index."):
            assert not any(dep.startswith("textmetric.search.") and dep != "textmetric.search.ranking"
                           for dep in graph[name]), name
