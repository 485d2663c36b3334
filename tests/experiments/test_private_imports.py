"""No module of the suite imports another module's private (underscore) names: what is shared is public."""
import ast
from pathlib import Path

import pytest

SUITE_PACKAGES = ("tracking", "lightning_modules", "datamodules", "callbacks", "experiments")


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in SUITE_PACKAGES:
            found += [f"{path}:{node.lineno}: from {node.module} import {alias.name}" for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


@pytest.mark.parametrize("package", SUITE_PACKAGES)
def test_no_module_imports_another_modules_private_names(pytestconfig, package):
    files = sorted((pytestconfig.rootpath / package).rglob("*.py"))
    assert files
    assert [line for path in files for line in _private_imports(path)] == []


def test_a_private_import_is_found(tmp_path):
    module = tmp_path / "entry.py"
    module.write_text("from tracking.evaluation.runner import _normalized_kind, selected_names\n")
    assert _private_imports(module) == [f"{module}:1: from tracking.evaluation.runner import _normalized_kind"]
