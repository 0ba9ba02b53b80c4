"""The package's shape: no import cycle among textmetric's modules, the ranking module a leaf, and every
package importing only from the packages before it in the flow."""

import ast
import re
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


def all_imports(path: Path, modules: set[str]) -> set[str]:
    """The textmetric modules ``path`` imports anywhere: at the top, inside functions and under TYPE_CHECKING."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("textmetric")}
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("textmetric")):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return found - {name}


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


# The packages in the order of the flow (README, CONTRIBUTING.md): each may import from those before it.
# The shared leaves come first; a new package takes its place here.
FLOW = ("errors", "atomic", "data", "encoding", "index", "search", "evaluation", "training", "demo", "serve",
        "distributed", "cli")
LEAVES = {"textmetric.search.ranking"}  # hits and trec_eval's order: below the indexes that make them


def part_of(module: str) -> str:
    """The package (or top-level module) of the flow a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "textmetric"


def test_every_package_has_its_place_in_the_flow():
    names = {part_of(module_name(p)) for p in PACKAGE.rglob("*.py")} - {"textmetric", "__main__"}
    assert names <= set(FLOW), f"place {sorted(names - set(FLOW))} in FLOW"


def test_each_package_imports_only_from_the_packages_before_it_in_the_flow():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    for name, path in files.items():
        here = part_of(name)
        if here in ("textmetric", "__main__"):  # the front door and `python -m` sit on top of everything
            continue
        for dep in all_imports(path, set(files)) - LEAVES:
            there = part_of(dep)
            assert there != "textmetric" and FLOW.index(there) <= FLOW.index(here), \
                f"{name} imports {dep}: {here} comes before {there} in the flow"


def test_no_library_module_imports_the_cli():
    graph = {name: all_imports(path, set(import_graph())) for name, path in
             ((module_name(p), p) for p in PACKAGE.rglob("*.py"))}
    for name, deps in graph.items():
        if part_of(name) not in ("cli", "__main__"):
            assert not any(part_of(dep) == "cli" for dep in deps), name


def test_the_module_map_in_contributing_names_every_module_once():
    text = (PACKAGE.parent / "CONTRIBUTING.md").read_text(encoding="utf-8")
    mapped = re.findall(r"^- `([\w/]+\.py)` — ", text, flags=re.MULTILINE)
    modules = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.name != "__init__.py" and p.relative_to(PACKAGE).parts != ("__main__.py",)]
    assert sorted(mapped) == sorted(modules)
