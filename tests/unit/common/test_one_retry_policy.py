"""The retry policy is defined once (issue 14): no module but common/retry.py names a backoff
constant or grows its own delay. Every package of the tree is read, so a new loop that
hand-rolls its backoff fails here with the file, line and what to use instead."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
THE_POLICY = ROOT / "common" / "retry.py"
SKIP_DIRS = {"tests", ".venv", ".git", "build", "dist", "node_modules"}
# Still carry their own reconnect loop on this branch; engineer "dockerport" moves them to
# common.retry. The coordinator empties this list once that branch is merged.
NOT_YET_CONVERTED: set[str] = set()
# A backoff constant: *BACKOFF*, or a retry/reconnect interval (*RETRY*_S, *RECONNECT*_MS).
CONSTANT = re.compile(r"^(?=[A-Z0-9_]+$).*(BACKOFF|(RETRY|RECONNECT)[A-Z0-9_]*_M?S$)")
GROWING = re.compile(r"delay|backoff|wait", re.IGNORECASE)


def _sources() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if not SKIP_DIRS.intersection(rel.parts) and path != THE_POLICY:
            yield path


def _name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _constants(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        for name in map(_name, node.targets if isinstance(node, ast.Assign) else [node.target]):
            if CONSTANT.match(name):
                yield node.lineno, f"backoff constant {name}"


def _growth(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """``delay *= 2``, ``min(backoff * 2, cap)``, ``base * 2 ** attempt``: a hand-rolled backoff."""
    for node in ast.walk(tree):
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Mult):
            if GROWING.search(_name(node.target)):
                yield node.lineno, f"{_name(node.target)} grown by hand"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Pow):
            operands = (_name(node.left), _name(node.right))
            exponential = isinstance(node.op, ast.Pow) and "attempt" in operands[1]
            if exponential or any(GROWING.search(n) for n in operands):
                yield node.lineno, "a delay grown by hand"


def _fixed_pauses(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """``except ...: await asyncio.sleep(1)``: an async loop retrying after a fixed pause, with
    no policy and no log. (A synchronous readiness poll with a deadline, as a benchmark waits
    for a port, polls on a beat; it does not wait out a failing dependency.)"""
    for handler in ast.walk(tree):
        if not isinstance(handler, ast.ExceptHandler):
            continue
        for node in ast.walk(handler):
            if isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
                call = node.value
                if _name(call.func) == "sleep" and call.args and not _is_zero(call.args[0]):
                    yield node.lineno, "a fixed sleep after an error"


def _is_zero(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0


def _violations() -> list[str]:
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        if rel in NOT_YET_CONVERTED:
            continue
        tree = ast.parse(path.read_text(), filename=rel)
        for line, what in (*_constants(tree), *_growth(tree), *_fixed_pauses(tree)):
            found.append(f"{rel}:{line}: {what}")
    return found


def test_backoff_is_defined_only_in_common_retry() -> None:
    found = _violations()
    assert not found, (
        "retry loops must take their delays from common.retry (a named RetryPolicy, Backoff, "
        "pause or retry_async) and log through log_retry:\n  " + "\n  ".join(found)
    )


def test_the_check_sees_what_it_forbids() -> None:
    """The three shapes above are recognised (so an empty result means something)."""
    tree = ast.parse(
        "PUBLISH_BACKOFF_FIRST_S = 0.5\n"
        "BUS_RETRY_S = 2.0\n"
        "async def loop():\n"
        "    delay = 1\n"
        "    while True:\n"
        "        try:\n"
        "            pass\n"
        "        except OSError:\n"
        "            await asyncio.sleep(1)\n"
        "            delay *= 2\n"
        "            await asyncio.sleep(BASE * 2 ** attempt)\n"
    )
    lines = sorted(line for line, _ in (*_constants(tree), *_growth(tree), *_fixed_pauses(tree)))
    assert lines == [1, 2, 9, 10, 11, 11]


def test_the_allow_list_only_names_files_that_still_need_it() -> None:
    """Once a listed file is converted (or gone), its entry must go too."""
    stale = []
    for rel in sorted(NOT_YET_CONVERTED):
        path = ROOT / rel
        if not path.exists():
            stale.append(f"{rel} (gone)")
            continue
        tree = ast.parse(path.read_text(), filename=rel)
        if not [*_constants(tree), *_growth(tree), *_fixed_pauses(tree)]:
            stale.append(rel)
    assert not stale, f"remove from NOT_YET_CONVERTED: {stale}"
