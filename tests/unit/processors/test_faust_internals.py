"""The fence around Faust's internals (``processors.faust_internals``).

Fails, naming the member and the installed versions, when an upgrade of faust-streaming,
mode-streaming or aiokafka removes or reshapes a private member the worker relies on; and
when a private member of those packages is used outside the fence.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.transport.consumer import Fetcher
from faust.transport.drivers import aiokafka as aiokafka_driver

from processors.faust_app import ProcessorConfig, build_app
from processors.faust_batch import BatchingApp, BatchingConsumer
from processors.faust_internals import INTERNALS, FencedConsumer, Internal

ROOT = Path(__file__).resolve().parents[3]
# A module that breaks the fence on purpose, for the checker's own test.
BAD = Path(__file__).with_name("fence_breaker.py")
FENCE = ROOT / "processors" / "faust_internals.py"
# docker and aiodocker have no fence: the grep below allows none of their private members.
LIBRARIES = ("faust", "mode", "aiokafka", "docker", "aiodocker")
DISTRIBUTIONS = ("faust-streaming", "mode-streaming", "aiokafka")
# Names our modules import the fenced classes from count as the libraries' own.
FENCED_MODULES = ("processors.faust_internals",)
PRIVATE = re.compile(r"^_(?!_)\w+$")
# A name defined or used as a member in source: after ``def``, after a dot, or at the
# start of a line (a class-level attribute or a module-level name).
MEMBER = re.compile(r"(?:\bdef\s+|\.|^[ \t]*)(_[A-Za-z]\w*)", re.MULTILINE)


def versions() -> str:
    return ", ".join(f"{d} {metadata.version(d)}" for d in DISTRIBUTIONS)


def where(entry: Internal) -> str:
    return f"{entry.owner.replace(':', '.')}.{entry.name} ({entry.what})"


def resolve(owner: str) -> Any:
    module, _, cls = owner.partition(":")
    found: Any = importlib.import_module(module)
    return getattr(found, cls) if cls else found


@pytest.fixture
async def consumer(tmp_path: Path) -> BatchingConsumer:
    """The worker's own consumer, built (not started: no broker needed)."""
    app = build_app(ProcessorConfig(datadir=tmp_path))
    built = app.faust.consumer
    assert isinstance(built, BatchingConsumer)
    return built


def problem(entry: Internal, instances: Sequence[object] = ()) -> str | None:
    """What the installed libraries no longer give ``entry`` (member and versions named), or None."""
    try:
        owner = resolve(entry.owner)
    except (ImportError, AttributeError) as exc:
        return f"{where(entry)}: its owner is gone in {versions()} ({exc})"
    if entry.kind == "instance":
        missing = [type(i).__name__ for i in instances if not hasattr(i, entry.name)]
        return f"{where(entry)} is no longer set on {missing} in {versions()}" if missing else None
    member = getattr(owner, entry.name, None)
    if member is None:
        return f"{where(entry)} is gone in {versions()}: update processors/faust_internals.py"
    if entry.kind == "module":
        return None
    params = tuple(inspect.signature(member).parameters) if callable(member) else None
    if params != entry.params:
        return f"{where(entry)} now takes {params}, the fence relies on {entry.params}, in {versions()}"
    return None


@pytest.mark.parametrize("entry", [e for e in INTERNALS if e.kind != "instance"], ids=lambda e: e.name)
def test_each_fenced_method_and_name_exists_with_the_parameters_relied_on(entry: Internal) -> None:
    assert problem(entry) is None, problem(entry)


@pytest.mark.parametrize("entry", [e for e in INTERNALS if e.kind == "instance"], ids=lambda e: e.name)
async def test_each_fenced_instance_attribute_is_set_by_the_library(
    entry: Internal, consumer: BatchingConsumer
) -> None:
    instances = [consumer, Fetcher(app=consumer.app)] if entry.owner.startswith("mode") else [consumer]
    assert all(isinstance(i, resolve(entry.owner)) for i in instances)
    assert problem(entry, instances) is None, problem(entry, instances)


@pytest.mark.parametrize(("change", "says"), [
    ({"name": "_gone_in_a_release"}, "_gone_in_a_release .* is gone in faust-streaming"),
    ({"name": "_add_gap", "params": ("self", "tp")}, r"_add_gap .* now takes \('self', 'tp', 'offset_from'"),
    ({"owner": "faust.transport.no_such_module:Consumer"}, "owner is gone in .*aiokafka"),
    ({"kind": "instance", "name": "_gone_attribute"}, "_gone_attribute .* no longer set on \\['Consumer'\\]"),
])  # fmt: skip
def test_a_changed_member_is_reported_by_name_and_versions(change: dict[str, Any], says: str) -> None:
    """The checker on members an upgrade could have changed (it must not pass vacuously)."""
    fields = {
        "owner": "faust.transport.consumer:Consumer",
        "name": "_add_gap",
        "kind": "method",
        "params": ("self", "tp", "offset_from", "offset_to"),
        "what": "w",
        "why": "y",
        "rejected": "r",
    }
    entry = Internal(**{**fields, **change})
    instances = [aiokafka_driver.Consumer.__new__(aiokafka_driver.Consumer)]
    message = problem(entry, instances)
    assert message is not None
    assert re.search(says, message), message
    assert "mode-streaming" in message


async def test_fenced_state_has_the_shape_the_fence_uses(consumer: BatchingConsumer) -> None:
    """Shapes, not just names: what the fence calls on each attribute still works."""
    tp = faust.types.TP("t", 0)
    assert consumer.offset_read(tp) is None  # a defaultdict of None: unknown means unread
    consumer.mark_read(tp, 7)
    assert consumer.offset_read(tp) == 7
    assert consumer.partitions_buffered() == set()
    assert consumer.partitions_active() == set()  # nothing assigned before start
    assert not consumer._stopped.is_set()
    assert consumer._n_acked == 0
    assert consumer._commit_every == consumer.app.conf.broker_commit_every


def test_the_fence_names_every_private_member_it_touches() -> None:
    """A private member used in the fence but missing from ``INTERNALS`` is checked by nobody."""
    listed = {e.name for e in INTERNALS}
    tree = ast.parse(FENCE.read_text())
    used = {name for name, _ in private_uses("processors.faust_internals", tree, fence=True)}
    assert used - listed == set(), f"private members used but not listed in INTERNALS: {used - listed}"
    assert listed - used == set(), f"listed in INTERNALS but no longer used: {listed - used}"


@pytest.mark.parametrize(("ours", "theirs"), [
    (FencedConsumer, aiokafka_driver.Consumer),
    (BatchingConsumer, aiokafka_driver.Consumer),
    (BatchingApp, faust.App),
])  # fmt: skip
def test_our_subclasses_shadow_nothing_of_the_library(ours: type, theirs: type) -> None:
    """A name we add to a Faust subclass must not silently replace one Faust has."""
    overrides = {e.name for e in INTERNALS if e.kind == "override"} | {"on_first_start", "force_commit"}
    # mode gives every Service subclass its own ``logger``, abc its own ``_abc_impl``.
    generated = {"logger", "_abc_impl", "Consumer"}
    added = {n for n in vars(ours) if not n.startswith("__")} - overrides - generated
    clash = {n for n in added if hasattr(theirs, n)}
    assert clash == set(), f"{ours.__name__} shadows {theirs.__name__}.{clash} in {versions()}"


# --- the grep: no private member of faust, mode or aiokafka outside the fence, of docker nowhere ---


@cache
def library_private_names() -> frozenset[str]:
    """Every private name the libraries define or use as a member (their source, scanned)."""
    names: set[str] = set()
    for lib in LIBRARIES:
        root = Path(importlib.import_module(lib).__file__ or "").parent
        for path in [*root.rglob("*.py"), *root.rglob("*.pyx")]:
            names.update(n for n in MEMBER.findall(path.read_text(errors="replace")) if PRIVATE.match(n))
    return frozenset(names)


def library_roots(tree: ast.Module) -> set[str]:
    """Local names bound to the libraries (or the fence's classes) by this module's imports."""
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {(a.asname or a.name).split(".")[0] for a in node.names if is_library(a.name)}
        elif isinstance(node, ast.ImportFrom) and (is_library(node.module) or node.module in FENCED_MODULES):
            roots |= {a.asname or a.name for a in node.names}
    return roots


def is_library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in LIBRARIES


def root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def library_classes(tree: ast.Module, roots: set[str]) -> set[ast.ClassDef]:
    """Classes deriving from a library class, directly or through another class here."""
    derived: set[str] = set()
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    for cls in classes:  # in source order: a base is defined before its subclass
        if any(root_name(b) in roots | derived for b in cls.bases):
            derived.add(cls.name)
    return {c for c in classes if c.name in derived}


def inherited_private_names(module: str, cls: ast.ClassDef) -> set[str]:
    """Private names the library classes in ``cls``'s hierarchy define or use (their source)."""
    found = getattr(importlib.import_module(module), cls.name, None)
    assert isinstance(found, type), f"{module}.{cls.name}: not importable as a class"
    names: set[str] = set()
    for base in found.__mro__:
        if is_library(base.__module__):
            names |= {n for n in MEMBER.findall(inspect.getsource(base)) if PRIVATE.match(n)}
            names |= {n for n in vars(base) if PRIVATE.match(n)}
    return names


def private_uses(module: str, tree: ast.Module, *, fence: bool = False) -> Iterator[tuple[str, int]]:
    """(name, line) of each use of a library private member in ``tree`` (module ``module``)."""
    roots = library_roots(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and is_library(node.module):
            yield from ((a.name, node.lineno) for a in node.names if PRIVATE.match(a.name))
    for cls in library_classes(tree, roots):
        theirs = inherited_private_names(module, cls)
        for item in cls.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in theirs:
                yield item.name, item.lineno  # an override of a library private method
        for node in ast.walk(cls):
            if isinstance(node, ast.Attribute) and node.attr in theirs and root_name(node) in ("self", "cls"):
                yield node.attr, node.lineno
    libnames = library_private_names()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or _on_self(node):
            continue
        if node.attr in libnames and (fence or not own_attribute(tree, node.attr)):
            yield node.attr, node.lineno
    yield from by_name(tree, libnames)


def _on_self(node: ast.Attribute) -> bool:
    """``self._x`` is our own member; ``self._api._url`` is the library's (checked)."""
    return isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")


def by_name(tree: ast.Module, libnames: frozenset[str]) -> Iterator[tuple[str, int]]:
    """``getattr(obj, "_name")`` and friends: the same access, spelt as a string."""
    reflective = ("getattr", "setattr", "hasattr", "delattr")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) >= 2):
            continue
        name = node.args[1]
        if node.func.id in reflective and isinstance(name, ast.Constant) and name.value in libnames:
            yield str(name.value), node.lineno


def own_attribute(tree: ast.Module, name: str) -> bool:
    """``name`` is defined by this module's own (non-library) classes: ``obj._name`` is ours."""
    derived = library_classes(tree, library_roots(tree))
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n not in derived):
        for node in ast.walk(cls):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                return True
            if isinstance(node, ast.Attribute) and node.attr == name and isinstance(node.ctx, ast.Store):
                return True
    return False


def repo_modules() -> Iterator[Path]:
    """The repository's own modules: not the tests, not the venv, not the fence."""
    skip = {".venv", "tests", ".git", "build"}
    yield from sorted(ROOT.glob("*.py"))
    for top in sorted(p for p in ROOT.iterdir() if p.is_dir() and p.name not in skip):
        for path in sorted(top.rglob("*.py")):
            if path.relative_to(ROOT).parts[:3] != ("deploy", "local", "kafka") and path != FENCE:
                yield path


def test_no_private_member_of_faust_mode_aiokafka_or_docker_outside_the_fence() -> None:
    """Docker's SDKs have no fence: none of their private members is used anywhere (issue 14)."""
    found = []
    for path in repo_modules():
        tree = ast.parse(path.read_text())
        if not library_roots(tree):
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found += [f"{path.relative_to(ROOT)}:{line} {name}" for name, line in private_uses(module, tree)]
    assert found == [], (
        "private members of faust/mode/aiokafka outside processors/faust_internals.py (move them "
        "behind the fence, with a comment and an INTERNALS entry), or of docker/aiodocker anywhere "
        f"(use their public API): {found}"
    )


def test_the_grep_catches_what_it_is_for() -> None:
    """The checker itself, on code that does what the fence forbids (it must not pass vacuously)."""
    bad = ast.parse(BAD.read_text())
    names = sorted(name for name, _ in private_uses("tests.unit.processors.fence_breaker", bad))
    assert names == ["_current_event", "_drain_messages", "_ensure_producer", "_n_acked", "_read_offset"]
