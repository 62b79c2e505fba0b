"""The project's import graph: no cycle anywhere, and the lower layers never import the pipeline layer.

Every import counts, also one inside a function: it hides a cycle from Python at load time, not from a reader.
"""

import ast
import glob
import os

import pytest

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("benchmarks", "components", "frame_path", "inference", "pipeline", "tools", "trainer", "typed_config", "video_datasets")
LOWER_LAYERS = ("components", "trainer", "inference", "video_datasets", "frame_path")


def _project_modules() -> dict[str, str]:
    """Module name -> file, for every module of the project (tests aside)."""
    modules = {}
    for path in glob.glob(os.path.join(PROJECT_ROOT, "*.py")) + [
        path for package in PACKAGES for path in glob.glob(os.path.join(PROJECT_ROOT, package, "**", "*.py"), recursive=True)
    ]:
        name = os.path.relpath(path, PROJECT_ROOT)[: -len(".py")].replace(os.sep, ".")
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(name: str, path: str, modules: dict[str, str]) -> set[str]:
    """The project modules `name` imports anywhere in its file: `from package import module` names the module."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            candidates = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def _import_graph() -> dict[str, set[str]]:
    modules = _project_modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(module: str) -> None:
        index[module] = lowlink[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                lowlink[module] = min(lowlink[module], lowlink[imported])
            elif imported in on_stack:
                lowlink[module] = min(lowlink[module], index[imported])
        if lowlink[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    module = tmp_path / "a.py"
    module.write_text("def f():\n    from b import g\n")
    assert _imports("a", str(module), {"a": str(module), "b": "b.py"}) == {"b"}


def test_no_module_of_the_project_imports_itself_through_others():
    assert _cycles(_import_graph()) == []


def test_no_two_packages_import_each_other():
    """A package is a layer: it uses the ones below it, never one that uses it (frame_path reads clips that
    video_datasets lists; video_datasets decodes nothing)."""
    packages: dict[str, set[str]] = {}
    for module, imported in _import_graph().items():
        package = module.split(".")[0]
        packages.setdefault(package, set()).update(name.split(".")[0] for name in imported if name.split(".")[0] != package)
    assert _cycles(packages) == []


@pytest.mark.parametrize("package", LOWER_LAYERS)
def test_lower_layers_never_import_the_pipeline_layer(package):
    graph = _import_graph()
    for module, imported in graph.items():
        if module.split(".")[0] == package:
            offending = sorted(name for name in imported if name.split(".")[0] in ("pipeline", "pipeline_runner"))
            assert not offending, f"{module} imports {offending}"


def test_the_tuner_reaches_no_export_code():
    """The Tuner trains candidates only: the SavedModel export (and the serving graph it bakes in) is not its business."""
    graph = _import_graph()
    reached, todo = set(), ["trainer.tuner"]
    while todo:
        for imported in graph[todo.pop()] - reached:
            reached.add(imported)
            todo.append(imported)
    assert not reached & {"trainer.export", "trainer.serving_frames", "trainer.run_fn"}, sorted(reached)
