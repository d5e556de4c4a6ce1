"""The command line uses the SDK's public names only (issue 11, "the house under them")."""

from __future__ import annotations

import ast
from pathlib import Path

import aep_ais

CLI_FILES = [
    Path(aep_ais.__file__).parent / "cli.py",
    *(Path(aep_ais.__file__).parent / "_cli").glob("*.py"),
]


def test_no_cli_module_imports_a_private_name_of_the_sdk() -> None:
    private = []
    for path in CLI_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                local = node.level == 1 and path.parent.name == "_cli"
                for alias in node.names:
                    dunder = alias.name.startswith("__") and alias.name.endswith("__")
                    if alias.name.startswith("_") and not (local or dunder):
                        private.append(f"{path.name}: {alias.name}")
    assert private == []


def test_the_cli_does_not_subclass_the_client() -> None:
    for path in CLI_FILES:
        tree = ast.parse(path.read_text())
        bases = [
            ast.unparse(base)
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            for base in node.bases
        ]
        assert "AISClient" not in bases, path
