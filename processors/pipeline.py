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

from collections.abc import Callable, Iterable
from typing import NamedTuple

import structlog

from processors.engine import ContainerState, PolicyContext, StepResult, close, reconsider, step
from processors.exceptions import StateVersionError
from processors.metrics import ProcessorMetrics
from processors.stores import PolicyStore, StateStore
from schemas import (
    EnforcementCommand,
    EventDecodeError,
    Record,
    Violation,
    dead_letter,
    decode,
    encode,
    now_ms,
)
from schemas import topics as t

log = structlog.get_logger(__name__)

COMPONENT = "processor"
INPUT_TOPICS = (t.POLICIES, t.METRICS, t.PROCESSES, t.AUDIT, t.KERNEL)


class Output(NamedTuple):
    id: str
    topic: str
    key: str
    value: bytes


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

    def invalidate(self) -> None:
        """The stores' mappings may have changed underneath (see ``processors.stores``)."""
        self.states.invalidate()
        self.policies.invalidate()

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
        # Arrived or changed after the container's first events: its escalation window is
        # judged again under it (processors.engine.arrival). No state yet: nothing to judge.
        return self._apply(key, rec, lambda state: self._reconsider(key, state))

    def _reconsider(self, key: str, state: ContainerState | None) -> StepResult | None:
        if state is None:
            return None
        return reconsider(state, self.policies.get(key), now=self._now())

    def _gone(self, container_id: str, ctx: PolicyContext) -> list[Output]:
        """The sandbox is gone (policy tombstone): last findings out, state and policy dropped."""
        return self.retire(container_id, self.states.get(container_id), ctx, now=self._now())

    def retire(
        self, container_id: str, state: ContainerState | None, ctx: PolicyContext, *, now: int | None
    ) -> list[Output]:
        """A container's last outputs (unsent outbox entries, closing findings); its state and
        policy dropped. For a tombstone, and for a container idle too long."""
        out: list[Output] = []
        if state is not None:
            out = self._resend(state) + self.encode(close(state, ctx, state.last_time, now=now), [])
        self.states.delete(container_id)
        self.policies.delete(container_id)
        self._track(out)
        return out

    def _event(self, rec: Record) -> list[Output]:
        topic, value = rec.topic, rec.value
        if value is None:
            raise EventDecodeError(topic, "empty message (tombstones belong on the policies topic only)")
        event = decode(topic, value)
        cid = self._touched = event.container_id
        return self._apply(
            cid, rec, lambda state: step(state, self.policies.get(cid, event), event, now=self._now())
        )

    def _now(self) -> int | None:
        return self.clock() if self.clock else None

    def _apply(
        self, cid: str, rec: Record, judge: Callable[[ContainerState | None], StepResult | None]
    ) -> list[Output]:
        """``judge``'s outputs for the container, its new state stored with the record's
        offset; a record the state already absorbed (redelivered) only re-sends the outbox."""
        state = self.states.get(cid)
        where, offset = f"{rec.topic}/{rec.partition}", rec.offset
        if state is not None and state.offsets.get(where, -1) >= offset:
            self.metrics.replayed.inc()
            again = self._resend(state)
            # Written back: the outbox pruned, and a state that reached the local store but
            # not the changelog before a crash reaches it now.
            self.states.put(cid, state)
            return again
        result = judge(state)
        if result is None:
            return []
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
