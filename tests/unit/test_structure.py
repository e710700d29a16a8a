# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine's shape, measured: layers, imports, sizes, one rename, roles without Jinja decisions.

Run as a script to print the figures: python tests/unit/test_structure.py
"""

from __future__ import annotations

import ast
import functools
import glob
import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
ENGINE = os.path.join(ROOT, "plugins", "module_utils", "_postfix")
# Bottom to top. A file imports only from its own layer's lower floors or from layers below.
LAYERS = ("core", "model", "plan", "host", "work", "profile")
# Layers whose files stand alone: one module's work each, one side each. The coordinator
# (profile/profile.py) is the one file that brings the sides together.
NO_SIBLINGS = ("work", "profile")
COORDINATOR = "profile/profile.py"
MAX_FLOORS = 6
MAX_FILE_CODE_LINES = 400
MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 50
MAX_PHASE_LINES = 60


def engine_files():
    return sorted(os.path.relpath(path, ENGINE) for path in glob.glob(os.path.join(ENGINE, "*", "*.py"))
                  if not path.endswith("__init__.py"))


@functools.lru_cache(None)
def tree(name):
    with open(os.path.join(ENGINE, name)) as handle:
        return ast.parse(handle.read())


def imports(name):
    """The engine files ``name`` imports (relative imports, at any depth of the file)."""
    layer = name.split("/")[0]
    found = set()
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level == 1:
                found.add("%s/%s.py" % (layer, node.module))
            elif node.level == 2 and node.module and "." in node.module:
                found.add("%s.py" % node.module.replace(".", "/"))
            else:
                raise AssertionError("%s: import %s reaches out of the engine" % (name, node.module))
    return found


def floors():
    graph = {name: imports(name) for name in engine_files()}

    @functools.lru_cache(None)
    def floor(name):
        return 1 + max([floor(other) for other in graph[name]] + [0])
    return {name: floor(name) for name in graph}


def code_lines(name):
    """Lines that are code: no blank lines, comments or docstrings."""
    module = tree(name)
    docs = set()
    for node in ast.walk(module):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node) is not None:
            docs.update(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    with open(os.path.join(ENGINE, name)) as handle:
        return sum(1 for number, line in enumerate(handle, 1)
                   if line.strip() and not line.strip().startswith("#") and number not in docs)


def oversized(kind, limit):
    return {"%s %s.%s" % (kind.__name__, name, node.name): node.end_lineno - node.lineno + 1
            for name in engine_files() for node in ast.walk(tree(name))
            if isinstance(node, kind) and node.end_lineno - node.lineno + 1 > limit}


def renames():
    """Every function of the engine that renames a file into place."""
    return sorted("%s:%s" % (name, node.name) for name in engine_files() for node in ast.walk(tree(name))
                  if isinstance(node, ast.FunctionDef)
                  and re.search(r"\bos\.(rename|replace)\(", ast.unparse(node)))


def jinja_decisions():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))):
        with open(path) as handle:
            text = handle.read()
        # A Jinja expression or statement may span lines: look inside each whole one.
        for match in re.finditer(r"{[{%].*?[}%]}", text, re.S):
            if re.search(r"\b(if|else)\b", match.group(0)):
                found.append("%s:%d" % (os.path.relpath(path, ROOT), text.count("\n", 0, match.start()) + 1))
    return found


def test_every_engine_file_lives_in_a_layer():
    loose = [name for name in glob.glob(os.path.join(ENGINE, "*.py")) if not name.endswith("__init__.py")]
    assert not loose
    assert {name.split("/")[0] for name in engine_files()} <= set(LAYERS)


def test_imports_point_down_and_sides_stand_alone():
    wrong = []
    for name in engine_files():
        layer = LAYERS.index(name.split("/")[0])
        for other in imports(name):
            other_layer = LAYERS.index(other.split("/")[0])
            if other_layer > layer:
                wrong.append("%s imports %s from a layer above" % (name, other))
            elif other_layer == layer and LAYERS[layer] in NO_SIBLINGS and name != COORDINATOR:
                wrong.append("%s imports its sibling %s" % (name, other))
    assert not wrong


def test_at_most_six_floors_of_imports():
    assert max(floors().values()) <= MAX_FLOORS


def test_sizes():
    assert {name: lines for name in engine_files() for lines in [code_lines(name)]
            if lines > MAX_FILE_CODE_LINES} == {}
    assert oversized(ast.ClassDef, MAX_CLASS_LINES) == {}
    assert oversized(ast.FunctionDef, MAX_FUNCTION_LINES) == {}


def constants():
    """Every module-level UPPER_CASE name the engine assigns, with the files (repeated) that assign it."""
    found = {}
    for name in engine_files():
        for node in tree(name).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id.lstrip("_").isupper():
                    found.setdefault(target.id, []).append(name)
    return found


def test_one_source_for_every_constant():
    # A public constant lives in one file; a private one is assigned once in its file (a second
    # assignment would silently change what the functions above it see).
    assert {name: files for name, files in constants().items()
            if len(files) > 1 and (not name.startswith("_") or len(set(files)) < len(files))} == {}


def test_the_coordinator_runs_its_phases_in_a_screen():
    coordinator = next(node for node in ast.walk(tree(COORDINATOR)) if isinstance(node, ast.ClassDef)
                       and node.name == "TlsProfile")
    execute = next(node for node in coordinator.body if isinstance(node, ast.FunctionDef) and node.name == "execute")
    assert execute.end_lineno - execute.lineno + 1 < MAX_PHASE_LINES


def test_one_function_renames_a_written_file_into_place():
    # host/files.py:rename_into_place is the one rename (EditLock.commit and install_index call it). The
    # renewal hook runs alone on the host, yet it is assembled from host/files.py too and writes its
    # record through EditLock, so it needs no rename of its own.
    assert renames() == ["host/files.py:rename_into_place"]


def test_roles_decide_nothing_in_jinja():
    assert jinja_decisions() == []


if __name__ == "__main__":
    levels = floors()
    print("engine files: %d, floors of imports: %d" % (len(levels), max(levels.values())))
    for name in engine_files():
        print("  %-28s floor %d, %3d code lines" % (name, levels[name], code_lines(name)))
    print("files over %d code lines:" % MAX_FILE_CODE_LINES,
          {name: code_lines(name) for name in engine_files() if code_lines(name) > MAX_FILE_CODE_LINES})
    print("classes over %d lines:" % MAX_CLASS_LINES, oversized(ast.ClassDef, MAX_CLASS_LINES))
    print("functions over %d lines:" % MAX_FUNCTION_LINES, oversized(ast.FunctionDef, MAX_FUNCTION_LINES))
    print("functions that rename a file into place:", renames())
    print("Jinja if/else in roles/*/tasks:", jinja_decisions())
