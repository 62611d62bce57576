"""The one path from a message to outputs, shared by the embedded runner and the Faust agents.

Both wrappers hand every record (topic, key, value, partition, offset) to
``Pipeline.handle`` and publish what it returns; they differ only in where the bytes
of state live (a dict, a Faust table) and how they learn an output was delivered.

Crash safety (at-least-once in, no loss and no new ids out):

* the state records the last source offset it has absorbed per topic partition, so an
  event redelivered after a restart is not counted twice;
* the outputs of an event are kept in the state's outbox until their delivery is
  confirmed (``delivered``); an outbox entry this process did not send is re-sent, so
  outputs of an event whose state was saved but whose outputs died with the worker are
  sent again, byte for byte (same ids): duplicates a consumer drops by id, never loss.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, MutableMapping
from typing import NamedTuple

import orjson
import structlog

from processors.engine import ContainerState, PolicyContext, close, compile_policy, step
from processors.engine.policy import CompiledPolicy
from processors.exceptions import StateVersionError
from processors.metrics import ProcessorMetrics
from schemas import (
    EnforcementCommand,
    EventDecodeError,
    PolicyEvent,
    Record,
    SecurityPolicy,
    Violation,
    dead_letter,
    decode,
    encode,
    now_ms,
)
from schemas import topics as t

log = structlog.get_logger(__name__)

COMPONENT = "processor"
INPUT_TOPICS = (t.POLICIES, t.METRICS, t.PROCESSES, t.AUDIT)
# Parsed states and policies kept beside their bytes: one per live container, capped so a
# worker that owned many partitions over its life does not grow without bound.
CACHE_SIZE = 20_000


class Output(NamedTuple):
    id: str
    topic: str
    key: str
    value: bytes


class StateStore:
    """Container states as bytes in a mapping (a dict, a Faust table), with the parsed
    object cached beside the bytes it was read from or written as.

    Between ``begin()`` and ``flush()`` (one batch) writes are held: each container's
    state is serialised and written once, when the batch ends, and reads see the held
    state. A Faust table write is a changelog record, so this is one record per
    container per batch instead of one per event."""

    def __init__(self, data: MutableMapping[str, bytes]) -> None:
        self.data = data
        self._cache: OrderedDict[str, tuple[bytes, ContainerState]] = OrderedDict()
        self._held: dict[str, ContainerState] | None = None  # None: writes go through

    def get(self, container_id: str) -> ContainerState | None:
        held = self._held
        if held is not None and container_id in held:
            return held[container_id]
        raw = self.data.get(container_id)
        if raw is None:
            return None
        hit = self._cache.get(container_id)
        if hit is not None and hit[0] == raw:
            return hit[1]
        state = ContainerState.from_bytes(raw)
        self._remember(container_id, raw, state)
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

    def begin(self) -> None:
        """Holds writes until ``flush``."""
        self._held = {}

    def flush(self) -> None:
        """Writes each held state once; writes go through again."""
        held, self._held = self._held, None
        for container_id, state in (held or {}).items():
            self._write(container_id, state)

    def _write(self, container_id: str, state: ContainerState) -> None:
        raw = state.to_bytes()
        self.data[container_id] = raw
        self._remember(container_id, raw, state)

    def _remember(self, container_id: str, raw: bytes, state: ContainerState) -> None:
        self._cache[container_id] = (raw, state)
        self._cache.move_to_end(container_id)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)


class PolicyStore:
    """Each container's PolicyEvent as received, with its compiled context cached."""

    def __init__(self, data: MutableMapping[str, bytes], default: SecurityPolicy) -> None:
        self.data = data
        self.default = PolicyContext(compile_policy(default))
        self._cache: OrderedDict[bytes, PolicyContext] = OrderedDict()
        self._compiled: dict[str, CompiledPolicy] = {}
        # In a batch: each container's context, read once (a Faust table read is a RocksDB
        # get); writes go through and update it.
        self._seen: dict[str, PolicyContext] | None = None

    def get(self, container_id: str) -> PolicyContext:
        seen = self._seen
        if seen is not None:
            ctx = seen.get(container_id)
            if ctx is None:
                ctx = seen[container_id] = self._read(container_id)
            return ctx
        return self._read(container_id)

    def put(self, container_id: str, raw: bytes, event: PolicyEvent) -> None:
        self.data[container_id] = raw
        ctx = self._context(raw, event)
        if self._seen is not None:
            self._seen[container_id] = ctx

    def delete(self, container_id: str) -> None:
        if self._seen is not None:
            self._seen.pop(container_id, None)
        if container_id in self.data:
            del self.data[container_id]

    def begin(self) -> None:
        """Reads are remembered until ``end`` (one batch)."""
        self._seen = {}

    def end(self) -> None:
        self._seen = None

    def _read(self, container_id: str) -> PolicyContext:
        raw = self.data.get(container_id)
        if raw is None:
            return self.default
        ctx = self._cache.get(raw)
        if ctx is None:
            ctx = self._parse(raw)
        return ctx

    def _parse(self, raw: bytes) -> PolicyContext:
        return self._context(raw, PolicyEvent.model_validate_json(raw))

    def _context(self, raw: bytes, ev: PolicyEvent) -> PolicyContext:
        compiled = self._compiled.get(ev.policy_id)
        if compiled is None:
            compiled = self._compiled[ev.policy_id] = compile_policy(ev.policy, ev.policy_id)
        ctx = PolicyContext(compiled, ev.sandbox_name, ev.image, dict(ev.labels))
        self._cache[raw] = ctx
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return ctx


class Pipeline:
    def __init__(
        self,
        *,
        states: StateStore,
        policies: PolicyStore,
        metrics: ProcessorMetrics | None = None,
        clock: Callable[[], int] | None = now_ms,
        component: str = COMPONENT,
    ) -> None:
        self.states = states
        self.policies = policies
        self.metrics = metrics or ProcessorMetrics()
        self.clock = clock
        self.component = component
        self._inflight: set[str] = set()
        self._delivered: set[str] = set()
        self._redo: dict[str, list[Record]] | None = None  # in a batch: each container's records so far
        self._touched: str | None = None  # the container whose state the current record changes

    def delivered(self, ids: Iterable[str]) -> None:
        """Marks outputs as acknowledged by the bus; their outbox entries go at the next save."""
        for i in ids:
            self._inflight.discard(i)
            self._delivered.add(i)

    def undelivered(self, ids: Iterable[str]) -> None:
        """Marks outputs whose send failed: the container's next event sends them again."""
        for i in ids:
            self._inflight.discard(i)

    def handle_batch(self, records: Iterable[Record]) -> list[Output]:
        """Outputs of the records, in order, the same as ``handle`` one by one; each
        container's state is written once, after the batch (``StateStore.begin``)."""
        self.states.begin()
        self.policies.begin()
        redo: dict[str, list[Record]] = {}
        self._redo = redo
        out: list[Output] = []
        counts: dict[str, int] = {}
        try:
            for rec in records:
                outs = self._guarded(rec)
                out += outs
                counts[rec.topic] = counts.get(rec.topic, 0) + 1
                # A record that failed returned its dead letter and changed nothing: not redone.
                if self._touched is not None and not (outs and outs[0].topic == t.DEADLETTER):
                    redo.setdefault(self._touched, []).append(rec)
        finally:
            self._redo = None
            self.policies.end()
            self.states.flush()
            for topic, n in counts.items():
                self.metrics.count_in(topic, n)
        return out

    def handle(self, rec: Record) -> list[Output]:
        """Outputs of one record, in order; never raises for a bad message (dead letter)."""
        self.metrics.count_in(rec.topic)
        return self._guarded(rec)

    def _guarded(self, rec: Record) -> list[Output]:
        try:
            return self._handle(rec)
        except EventDecodeError as exc:
            return [self._dead(rec, exc.reason, "decode")]
        except StateVersionError as exc:
            log.warning("state_version_unreadable", container_id=exc.container_id, found=exc.found)
            self.metrics.errors.labels("state_version").inc()
            self.states.delete(exc.container_id)
            return self._guarded(rec)
        except Exception as exc:  # a bug must not stop the worker nor lose the event
            log.exception("engine_error", topic=rec.topic, key=rec.key, offset=rec.offset)
            if self._touched is not None:
                self._restore(self._touched)
            return [self._dead(rec, f"engine error: {type(exc).__name__}: {exc}", "engine")]

    def _restore(self, container_id: str) -> None:
        """Back to the state before the failed step: the stored one, plus (in a batch) the
        container's earlier records of the batch again, whose outputs were returned already."""
        self.states.forget(container_id)
        for rec in (self._redo or {}).get(container_id, ()):
            try:
                self._handle(rec)
            except Exception:  # not deterministic after all: the stored state stands
                log.exception("engine_error_on_redo", key=container_id, offset=rec.offset)
                self.metrics.errors.labels("engine").inc()
                self.states.forget(container_id)
                return

    def _handle(self, rec: Record) -> list[Output]:
        self._touched = None
        if rec.topic == t.POLICIES:
            return self._policy(rec)
        return self._event(rec)

    def _dead(self, rec: Record, why: str, kind: str) -> Output:
        self.metrics.deadletters.labels(rec.topic).inc()
        self.metrics.errors.labels(kind).inc()
        dl = dead_letter(
            self.component, rec.topic, rec.value, why, key=rec.key, partition=rec.partition, offset=rec.offset
        )
        return Output(dl.event_id, t.DEADLETTER, rec.key or "", encode(dl))

    def _policy(self, rec: Record) -> list[Output]:
        key, value = rec.key, rec.value
        if key is None:
            raise EventDecodeError(t.POLICIES, "a policy message needs the container id as its key")
        self._touched = key
        if value is None:
            return self._gone(key, self.policies.get(key))
        event = decode(t.POLICIES, value)
        self.policies.put(key, value, event)
        return []

    def _gone(self, container_id: str, ctx: PolicyContext) -> list[Output]:
        """The sandbox is gone (policy tombstone): last findings out, state and policy dropped."""
        state = self.states.get(container_id)
        out: list[Output] = []
        if state is not None:
            now = self.clock() if self.clock else None
            out = self._resend(state) + self.encode(close(state, ctx, state.last_time, now=now), [])
        self.states.delete(container_id)
        self.policies.delete(container_id)
        self._track(out)
        return out

    def _event(self, rec: Record) -> list[Output]:
        topic, value, offset = rec.topic, rec.value, rec.offset
        if value is None:
            raise EventDecodeError(topic, "empty message (tombstones belong on the policies topic only)")
        event = decode(topic, value)
        cid = self._touched = event.container_id
        state = self.states.get(cid)
        where = f"{topic}/{rec.partition}"
        if state is not None and state.offsets.get(where, -1) >= offset:
            self.metrics.replayed.inc()
            again = self._resend(state)
            # Written back: the outbox pruned, and a state that reached the local store but
            # not the changelog before a crash reaches it now.
            self.states.put(cid, state)
            return again
        ctx = self.policies.get(cid)
        result = step(state, ctx, event, now=self.clock() if self.clock else None)
        new = result.state
        if new is not None and not result.violations and not result.commands:  # most events
            out = self._resend(new)
            new.offsets[where] = offset
            self.states.put(cid, new)
            return out
        fresh = self.encode(result.violations, result.commands)
        if new is None:  # destroyed: keep only what may still need sending
            out = (self._resend(state) if state is not None else []) + fresh
            self._track(fresh)
            pending = (state.outbox if state is not None else []) + [tuple(o) for o in fresh]
            self._drop(cid, state, pending, where, offset)  # type: ignore[arg-type]
            return out
        out = self._resend(new) + fresh
        self._save_outbox(new, fresh)
        new.offsets[where] = offset
        self.states.put(cid, new)
        self._track(fresh)
        return out

    def _drop(
        self,
        cid: str,
        state: ContainerState | None,
        pending: list[tuple[str, str, str, bytes]],
        where: str,
        offset: int,
    ) -> None:
        if not pending:
            self.states.delete(cid)
            return
        # Outputs not yet confirmed: a minimal state keeps them until the policy tombstone.
        keep = ContainerState(container_id=cid, offsets=dict(state.offsets) if state else {})
        keep.outbox = pending
        keep.offsets[where] = offset
        self.states.put(cid, keep)

    def _resend(self, state: ContainerState) -> list[Output]:
        """Prunes delivered outbox entries; returns those this process has not sent."""
        if not state.outbox:
            return []
        keep = [e for e in state.outbox if e[0] not in self._delivered]
        for e in state.outbox:
            self._delivered.discard(e[0])
        state.outbox = keep
        again = [Output(*e) for e in keep if e[0] not in self._inflight]
        if again:
            self.metrics.resent.inc(len(again))
            self._inflight.update(o.id for o in again)
        return again

    @staticmethod
    def _save_outbox(state: ContainerState, fresh: list[Output]) -> None:
        state.outbox.extend((o.id, o.topic, o.key, o.value) for o in fresh)

    def _track(self, outs: list[Output]) -> None:
        self._inflight.update(o.id for o in outs)

    def encode(self, violations: list[Violation], commands: list[EnforcementCommand]) -> list[Output]:
        out = [Output(v.event_id, t.VIOLATIONS, v.container_id, encode(v)) for v in violations]
        for v in violations:
            self.metrics.latency.observe(max(0, v.detected_time - v.sample_time) / 1000)
        out += [Output(c.event_id, t.ENFORCEMENT, c.container_id, encode(c)) for c in commands]
        return out


def output_ids(outputs: Iterable[Output]) -> list[str]:
    return [o.id for o in outputs]


def dumps_outputs(outputs: Iterable[Output]) -> bytes:
    """A record of outputs (tests compare runs with it)."""
    return orjson.dumps([[o.topic, o.key, orjson.loads(o.value)] for o in outputs])
