"""The command line uses the SDK's public names only (issue 11, "the house under them")."""

from __future__ import annotations

import ast
from pathlib import Path

import aep_ais

CLI_FILES = [
    Path(aep_ais.__file__).parent / "cli.py",
    *(Path(aep_ais.__file__).parent / "_cli").glob("*.py"),
]


def _imports(path: Path) -> list[tuple[str, str]]:
    """`(module, name)` of every import of `path`, modules made absolute."""
    package = "aep_ais._cli" if path.parent.name == "_cli" else "aep_ais"
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
            module = ".".join([*base, node.module] if node.level and node.module else base)
            found += [(node.module if not node.level else module, a.name) for a in node.names]
    return found


def _private(module: str, name: str) -> bool:
    parts = module.split(".")
    if parts[0] != "aep_ais" or parts[:2] == ["aep_ais", "_cli"]:
        return False  # not the SDK, or the command line's own modules
    dunder = name.startswith("__") and name.endswith("__")
    return any(p.startswith("_") for p in parts[1:]) or (name.startswith("_") and not dunder)


def test_no_cli_module_imports_a_private_module_or_name_of_the_sdk() -> None:
    private = {
        (path.name, module, name)
        for path in CLI_FILES
        for module, name in _imports(path)
        if _private(module, name)
    }
    assert private == set()


def test_the_guard_sees_private_imports() -> None:
    assert _private("aep_ais._convert", "to_dict")
    assert _private("aep_ais.testing._server", "bind_socket")
    assert _private("aep_ais", "_models")
    assert not _private("aep_ais", "from_dict")
    assert not _private("aep_ais.testing", "bind_socket")
    assert not _private("aep_ais._cli.errors", "CLIError")


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
