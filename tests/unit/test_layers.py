"""Imports go one way (DESIGN.md): ``schemas`` imports nothing of ours, ``common`` only
``schemas``, each component only ``schemas`` and ``common``; ``sandguard`` wires them all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("schemas", "common", "sandbox", "collectors", "processors", "enforcer", "reporting", "sandguard")
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "common": {"schemas"},
    **{c: {"schemas", "common"} for c in ("sandbox", "collectors", "processors", "enforcer", "reporting")},
}


def imported_packages(path: Path) -> set[str]:
    """Our top-level packages that a module imports (relative imports stay in the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(OURS)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_its_layer_allows(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {sorted(bad)}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if (bad := imported_packages(path) - ALLOWED[package] - {package})
    }
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}: {sorted(wrong)}"


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("import os\nfrom enforcer.port import DockerPort\nimport schemas.topics\n")
    assert imported_packages(bad) == {"enforcer", "schemas"}
