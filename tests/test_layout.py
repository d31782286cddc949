"""The package's structure: which module imports which."""

import ast
import pathlib

import sksnn

PACKAGE = pathlib.Path(sksnn.__file__).parent


def _imports():
    """``{module: set of sksnn modules it imports}``, function-level imports included."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        name = path.stem
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    graph[name].add(node.module)
                else:  # from . import x: x is a module, or a name of __init__
                    graph[name].update(
                        a.name if (PACKAGE / f"{a.name}.py").exists() else "__init__" for a in node.names
                    )
    return graph


def test_the_modules_import_each_other_without_a_cycle():
    graph = _imports()
    assert graph["_base"] and graph["_classifier"]  # the walk found sksnn's imports
    done, path = set(), []

    def visit(module):
        assert module not in path, f"import cycle: {' -> '.join(path + [module])}"
        if module in done:
            return
        path.append(module)
        for imported in graph.get(module, ()):
            visit(imported)
        path.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_the_graph_module_knows_nothing_of_scikit_learn_or_training():
    source = (PACKAGE / "_network.py").read_text()
    imported = {n.module or "" for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import) for a in n.names}
    assert not any(name.startswith(("sklearn", "_trainer", "_training", "_base")) for name in imported)
