"""Dependencies point one way, domains -> engine -> protocol, with no cycle and no import
hidden inside a function to dodge one (../shared/style.md, "Which way dependencies point").

The contracts live in pyproject.toml (``[tool.importlinter]``; ``lint-imports`` checks them
from a shell). These tests run them, and look for module-level cycles and imports inside
functions, on the tree less the known violations listed below. The lists only shrink: a new
violation fails, and so does an entry whose violation is gone, so it is struck out.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("backoffice", "chatusers", "knowledge", "automation")

# Imports that break a contract or close a cycle, being fixed under "One sync core" (issue
# 16): (importing file, imported module). Each must still be there and still break a rule.
KNOWN_BAD_IMPORTS: frozenset[tuple[str, str]] = frozenset()

# Imports inside a function, statement as written: (file, statement). Besides these, only an
# ``AppConfig.ready`` importing its own app (to register its kinds), an import under ``if
# TYPE_CHECKING:`` and migrations may import inside a function.
KNOWN_FUNCTION_IMPORTS: frozenset[tuple[str, str]] = frozenset()

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def module_of(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def lint_settings() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def import_graph(*, allowing: frozenset[tuple[str, str]] = KNOWN_BAD_IMPORTS) -> grimp.ImportGraph:
    """The import graph the contracts are checked on, less the imports ``allowing`` names."""
    config = lint_settings()
    graph = grimp.build_graph(
        *config["root_packages"],
        exclude_type_checking_imports=config.get("exclude_type_checking_imports", False),
        cache_dir=None,
    )
    for path, imported in allowing:
        graph.remove_import(importer=module_of(path), imported=imported)
    return graph


def broken_contracts(*, allowing: frozenset[tuple[str, str]] = KNOWN_BAD_IMPORTS) -> str:
    """``lint-imports``'s report on the contracts of pyproject.toml if any is broken, with the
    imports ``allowing`` names ignored; empty if all hold.

    It runs in a process of its own: in this one Twisted (loaded by Daphne) has marked
    ``abc.ABC`` with a ``zope.interface`` attribute that import-linter's contracts trip on.
    """
    config = lint_settings()
    ignored = sorted(f"{module_of(path)} -> {imported}" for path, imported in allowing)
    for contract in config["contracts"]:
        contract["ignore_imports"] = [*contract.get("ignore_imports", ()), *ignored]
        # Each contract sees every entry; whether an entry still matters is checked below.
        contract["unmatched_ignore_imports_alerting"] = "none"
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as file:
        file.write(_toml(config))
        file.flush()
        run = subprocess.run(
            [LINT_IMPORTS, "--no-cache", "--no-logo", file.name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    return "" if run.returncode == 0 else run.stdout + run.stderr


def _toml(config: dict) -> str:
    """``config`` as the ``[tool.importlinter]`` table of a TOML file (its values are strings,
    booleans and lists of strings, which JSON writes as TOML reads them)."""
    lines = ["[tool.importlinter]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in config.items() if key != "contracts"]
    for contract in config["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in contract.items()]
    return "\n".join(lines) + "\n"


def cycles(graph: grimp.ImportGraph) -> list[str]:
    """Each module-level import cycle once, as its chain of modules."""
    found: dict[frozenset[str], str] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None and frozenset(back) not in found:
                found[frozenset(back)] = " -> ".join((importer, *back))
    return list(found.values())


def function_imports() -> set[tuple[str, str]]:
    """Every import inside a function of the project's packages that is not one of the
    justified kinds: (file, statement)."""
    found = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(ROOT).as_posix()
            finder = _FunctionImports(package)
            finder.visit(ast.parse(path.read_text(), filename=relative))
            found |= {(relative, statement) for statement in finder.found}
    return found


class _FunctionImports(ast.NodeVisitor):
    def __init__(self, package: str) -> None:
        self.package = package
        self.functions: list[ast.AST] = []
        self.in_app_ready = False
        self.found: list[str] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        is_app_config = any(ast.unparse(base).endswith("AppConfig") for base in node.bases)
        for child in node.body:
            ready = is_app_config and isinstance(child, ast.FunctionDef) and child.name == "ready"
            self.in_app_ready, was = ready, self.in_app_ready
            self.visit(child)
            self.in_app_ready = was

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        if not self.functions:
            return
        own_app = isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == self.package
        # An app's ``ready`` registering its own kinds with the engine is how a domain plugs in.
        if self.in_app_ready and len(self.functions) == 1 and own_app:
            return
        self.found.append(ast.unparse(node))

    visit_ImportFrom = visit_Import


def test_the_import_contracts_hold():
    report = broken_contracts()

    if report:
        pytest.fail(report, pytrace=False)


def test_no_module_imports_itself_through_others():
    found = cycles(import_graph())

    assert not found, "Import cycles:\n" + "\n".join(found)


def test_each_known_bad_import_is_still_there_and_still_breaks_a_rule():
    full = import_graph(allowing=frozenset())
    gone = [
        entry
        for entry in sorted(KNOWN_BAD_IMPORTS)
        if not full.direct_import_exists(importer=module_of(entry[0]), imported=entry[1])
    ]
    harmless = [
        entry
        for entry in sorted(KNOWN_BAD_IMPORTS - set(gone))
        if not cycles(import_graph(allowing=KNOWN_BAD_IMPORTS - {entry}))
        and not broken_contracts(allowing=KNOWN_BAD_IMPORTS - {entry})
    ]

    assert (gone, harmless) == ([], []), (
        f"Strike from KNOWN_BAD_IMPORTS those fixed, {gone}, and those that no longer break a rule, "
        f"{harmless}"
    )


def test_no_import_hides_inside_a_function():
    found = function_imports()

    assert not found - KNOWN_FUNCTION_IMPORTS, (
        "Imports inside a function (an import cycle is fixed in the design, not dodged): "
        f"{sorted(found - KNOWN_FUNCTION_IMPORTS)}"
    )
    assert not KNOWN_FUNCTION_IMPORTS - found, (
        f"Fixed, strike them from KNOWN_FUNCTION_IMPORTS: {sorted(KNOWN_FUNCTION_IMPORTS - found)}"
    )
