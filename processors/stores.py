"""Where the pipeline keeps container states and policies: bytes in a mapping (a dict, a
Faust table), the parsed objects cached beside them.

The caches are trusted: the mapping is written only through these stores, so what a
cache holds is what the mapping holds, and a hit costs no read (a Faust table read is a
RocksDB get). A wrapper whose mapping can change underneath calls ``invalidate()``
before the next read: the Faust worker does at every partition assignment, after which
recovery may have brought states another worker wrote.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import MutableMapping

from processors import own_limits
from processors.engine import ContainerState, PolicyContext, compile_policy
from processors.engine.policy import CompiledPolicy
from schemas import LimitsSample, PolicyEvent, ResourceLimits, SecurityPolicy
from schemas.policy import WIRE_CONTEXT

# Parsed states and policies kept: one per live container (a few KiB each), capped so a
# worker that owned many partitions over its life does not grow without bound.
CACHE_SIZE = 20_000
# The policy id of a container judged by its own limits (no PolicyEvent for it yet).
OWN_LIMITS_POLICY_ID = "container-limits"


class StateStore:
    """Container states, serialised in ``data``, parsed in a cache.

    Between ``begin()`` and ``flush()`` (one batch) writes are held: each container's
    state is serialised and written once, when the batch ends, and reads see the held
    state. A Faust table write is a changelog record, so this is one record per
    container per batch instead of one per event."""

    def __init__(self, data: MutableMapping[str, bytes]) -> None:
        self.data = data
        self._cache: OrderedDict[str, ContainerState] = OrderedDict()
        self._held: dict[str, ContainerState] | None = None  # None: writes go through

    def get(self, container_id: str) -> ContainerState | None:
        held = self._held
        if held is not None:
            state = held.get(container_id)
            if state is not None:
                return state
        state = self._cache.get(container_id)
        if state is not None:
            return state
        raw = self.data.get(container_id)
        if raw is None:
            return None
        state = ContainerState.from_bytes(raw)
        self._remember(container_id, state)
        return state

    def put(self, container_id: str, state: ContainerState) -> None:
        if self._held is not None:
            self._held[container_id] = state
            return
        self._write(container_id, state)

    def delete(self, container_id: str) -> None:
        if self._held is not None:
            self._held.pop(container_id, None)
        self._cache.pop(container_id, None)
        if container_id in self.data:
            del self.data[container_id]

    def forget(self, container_id: str) -> None:
        """Drops the parsed and held copies (after a failed step left them half-changed):
        the next read is the stored state."""
        if self._held is not None:
            self._held.pop(container_id, None)
        self._cache.pop(container_id, None)

    def invalidate(self) -> None:
        """The mapping may have changed underneath: the next reads parse what it holds."""
        self._cache.clear()

    def begin(self) -> None:
        """Holds writes until ``flush``."""
        self._held = {}

    def flush(self) -> None:
        """Writes each held state once; writes go through again."""
        held, self._held = self._held, None
        for container_id, state in (held or {}).items():
            self._write(container_id, state)

    def _write(self, container_id: str, state: ContainerState) -> None:
        self.data[container_id] = state.to_bytes()
        self._remember(container_id, state)

    def _remember(self, container_id: str, state: ContainerState) -> None:
        cache = self._cache
        cache[container_id] = state
        cache.move_to_end(container_id)
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)


class PolicyStore:
    """Each container's PolicyEvent as received, with its compiled context cached per
    container and per distinct policy. A container with none is judged by the default
    policy with the container's own limits in force (``processors.own_limits``)."""

    def __init__(self, data: MutableMapping[str, bytes], default: SecurityPolicy) -> None:
        self.data = data
        self.default_policy = default
        self.default = PolicyContext(compile_policy(default, provisional=True))
        self._known: dict[str, PolicyContext] = {}
        self._parsed: OrderedDict[bytes, PolicyContext] = OrderedDict()
        self._compiled: dict[str, CompiledPolicy] = {}
        self._own: OrderedDict[str, PolicyContext] = OrderedDict()  # containers with no policy yet
        self._own_compiled: dict[ResourceLimits, CompiledPolicy] = {}

    def get(self, container_id: str, event: object = None) -> PolicyContext:
        """The container's policy; without one, its own limits (updated from ``event``
        when it is a sample that shows them)."""
        ctx = self._known.get(container_id)
        if ctx is None:
            read = self._read(container_id)
            if read is None:
                return self._own_limits(container_id, event)
            ctx = read
            self._know(container_id, ctx)
        return ctx

    def _own_limits(self, container_id: str, event: object) -> PolicyContext:
        ctx = self._own.get(container_id)
        labels = own_limits.sandguard_labels(event)
        if labels:  # the container's lifecycle: its sandguard labels, with the policy id it expects
            base = ctx or self.default
            ctx = self._own[container_id] = PolicyContext(
                base.policy, base.container_name, base.image, labels
            )
            return ctx
        if (
            ctx is not None
            and ctx.policy.policy_id == OWN_LIMITS_POLICY_ID
            and not isinstance(event, LimitsSample)
        ):
            return ctx  # a MetricSample only stands in until the first LimitsSample
        limits = own_limits.in_force(self.default_policy.resource_limits, event)
        if limits is None:
            return ctx or self.default
        compiled = self._own_compiled.get(limits)
        if compiled is None:
            policy = self.default_policy.model_copy(update={"resource_limits": limits})
            compiled = compile_policy(policy, OWN_LIMITS_POLICY_ID, provisional=True)
            if len(self._own_compiled) < CACHE_SIZE:
                self._own_compiled[limits] = compiled
        ctx = self._own[container_id] = PolicyContext(compiled, labels=dict(ctx.labels) if ctx else {})
        if len(self._own) > CACHE_SIZE:
            self._own.popitem(last=False)
        return ctx

    def put(self, container_id: str, raw: bytes, event: PolicyEvent) -> None:
        self._own.pop(container_id, None)
        self.data[container_id] = raw
        self._know(container_id, self._context(raw, event))

    def delete(self, container_id: str) -> None:
        self._known.pop(container_id, None)
        self._own.pop(container_id, None)
        if container_id in self.data:
            del self.data[container_id]

    def invalidate(self) -> None:
        """The mapping may have changed underneath: the next reads look again."""
        self._known.clear()

    def _know(self, container_id: str, ctx: PolicyContext) -> None:
        if len(self._known) >= CACHE_SIZE:
            self._known.clear()  # rare (that many containers): start over, reads refill it
        self._known[container_id] = ctx

    def _read(self, container_id: str) -> PolicyContext | None:
        raw = self.data.get(container_id)
        if raw is None:
            return None
        ctx = self._parsed.get(raw)
        if ctx is None:
            ctx = self._context(raw, PolicyEvent.model_validate_json(raw, context=WIRE_CONTEXT))
        return ctx

    def _context(self, raw: bytes, ev: PolicyEvent) -> PolicyContext:
        compiled = self._compiled.get(ev.policy_id)
        if compiled is None:
            compiled = self._compiled[ev.policy_id] = compile_policy(ev.policy, ev.policy_id)
        ctx = PolicyContext(compiled, ev.sandbox_name, ev.image, dict(ev.labels))
        self._parsed[raw] = ctx
        if len(self._parsed) > CACHE_SIZE:
            self._parsed.popitem(last=False)
        return ctx
