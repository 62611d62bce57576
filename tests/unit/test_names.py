"""One name per idea (issue 14): no two classes or type aliases of our packages share a name.

Two ``ContainerState`` classes, one the rule engine's judgement state and one the
enforcer's view of a container, read the same in a traceback, a review and a search, and
one gets changed for the other. A new class or alias takes a name no other package uses;
where two definitions are the same idea, one imports the other (from ``schemas`` or
``common`` when two components need it).

Names starting with ``_`` are a module's own and are not checked.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "common", "sandbox", "collectors", "processors", "enforcer", "reporting", "sandguard")
# Subscripted typing forms that make ``Name = ...`` a type alias.
ALIAS_FORMS = frozenset({"Literal", "Callable", "Union", "Optional", "Annotated", "Mapping", "Sequence"})

# Names that may be defined more than once, each with the reason. Keep it short: an entry
# no longer defined twice fails too, so the list never outlives its reason.
ALLOWED: dict[str, str] = {}


def _alias_name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        annotation = node.annotation
        is_alias = isinstance(annotation, ast.Name) and annotation.id == "TypeAlias"
        return node.target.id if is_alias else None
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        value = node.value
        if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name):
            return node.targets[0].id if value.value.id in ALIAS_FORMS else None
    return None


def _defined(tree: ast.Module) -> list[tuple[str, int]]:
    """The classes and type aliases a module defines at its top level."""
    out = []
    for node in tree.body:
        name = node.name if isinstance(node, ast.ClassDef) else _alias_name(node)
        if name is not None and not name.startswith("_"):
            out.append((name, node.lineno))
    return out


def definitions() -> dict[str, list[str]]:
    where: dict[str, list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            for name, line in _defined(ast.parse(path.read_text(encoding="utf-8"), str(rel))):
                where[name].append(f"{rel}:{line}")
    return where


def test_no_name_is_defined_twice() -> None:
    repeated = {n: w for n, w in definitions().items() if len(w) > 1 and n not in ALLOWED}
    assert not repeated, "one name per idea (tests/unit/test_names.py): " + "; ".join(
        f"{name} is defined in {', '.join(where)}: if it is one idea, define it once and "
        "import it; if not, give each a name that says what it is"
        for name, where in sorted(repeated.items())
    )


def test_every_allowed_repeat_still_repeats() -> None:
    where = definitions()
    stale = sorted(n for n in ALLOWED if len(where.get(n, [])) < 2)
    assert not stale, f"no longer defined twice, remove from ALLOWED in tests/unit/test_names.py: {stale}"


def test_the_check_sees_classes_and_aliases() -> None:
    tree = ast.parse("class A: ...\nB = Literal['x']\nC: TypeAlias = int\n_D = Literal['y']\nE = 3\n")
    assert [name for name, _ in _defined(tree)] == ["A", "B", "C"]
