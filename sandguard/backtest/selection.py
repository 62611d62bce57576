"""Which sandboxes a backtest covers, and what the history says about each: its image,
labels, the policies it ran under (and when), and when it was destroyed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandguard.backtest.exceptions import SelectionError
from schemas import Store

_SANDBOXES = """
SELECT container_id, toUnixTimestamp64Milli(time), destroyed, policy_id, policy, sandbox_name, image, labels
FROM sandboxes FINAL
WHERE container_id IN (
    SELECT container_id FROM sandboxes FINAL
    WHERE NOT destroyed AND {where}
)
ORDER BY container_id, time, event_id"""


@dataclass(frozen=True, slots=True)
class Selection:
    """The window (epoch ms, inclusive) and at most one filter: a sandbox, an image or a label."""

    since: int
    until: int
    sandbox: str | None = None  # a container id or its prefix (12 characters, as docker ps shows)
    image: str | None = None
    label: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise SelectionError("until", f"{self.until} is before since {self.since}")
        given = [n for n in ("sandbox", "image", "label") if getattr(self, n) is not None]
        if len(given) > 1:
            both = " and ".join(given)
            raise SelectionError(given[1], f"give one of --sandbox, --image, --label, not {both}")

    def describe(self) -> str:
        if self.sandbox:
            return f"sandbox {self.sandbox}"
        if self.image:
            return f"image {self.image}"
        if self.label:
            return f"label {self.label[0]}={self.label[1]}"
        return "every sandbox"

    def where(self) -> tuple[str, dict[str, Any]]:
        if self.sandbox:
            return "startsWith(container_id, {sb:String})", {"sb": self.sandbox}
        if self.image:
            return "image = {img:String}", {"img": self.image}
        if self.label:
            return "labels[{lk:String}] = {lv:String}", {"lk": self.label[0], "lv": self.label[1]}
        return "1", {}


@dataclass(slots=True)
class RecordedSandbox:
    container_id: str
    name: str = ""
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created: int = 0  # the first policy event
    destroyed: int | None = None  # the policy tombstone
    policies: list[tuple[int, str, str]] = field(default_factory=list)  # (time, policy id, policy JSON)

    def alive_in(self, since: int, until: int) -> bool:
        return self.created <= until and (self.destroyed is None or self.destroyed >= since)


def parse_label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SelectionError("label", f"{text!r} is not key=value")
    return key, value


def sandboxes(store: Store, sel: Selection) -> list[RecordedSandbox]:
    """The sandboxes of the selection alive in its window, in container id order."""
    where, params = sel.where()
    out: dict[str, RecordedSandbox] = {}
    for cid, t, destroyed, pid, policy, name, image, labels in store.query(
        _SANDBOXES.format(where=where), params
    ):
        sb = out.get(cid)
        if sb is None:
            sb = out[cid] = RecordedSandbox(cid, created=t)
        if destroyed:
            sb.destroyed = t
            continue
        sb.name, sb.image, sb.labels = name, image, dict(labels)
        sb.policies.append((t, pid, policy))
    return [sb for sb in out.values() if sb.policies and sb.alive_in(sel.since, sel.until)]
