"""Least privilege on the bus: the Kafka ACLs each component's identity needs, and nothing more.

Whoever can write to the enforcement topic can terminate sandboxes, and whoever can write
to the policies topic can loosen them, so each role gets only its own arrows of the data
flow (DESIGN.md):

- collector: writes metrics, processes and audit;
- processor: reads those and policies, writes violations, enforcement and dead letters,
  owns its changelog topics and its consumer group;
- enforcer: reads enforcement, writes actions and dead letters;
- manager (a SandboxManager): writes policies and audit, reads actions; reads audit too
  for its exec gate (the collector's ``kernel_covered``, read with no consumer group);
- sink: reads every topic, writes dead letters only (a malformed event is set aside,
  counted; nobody acts on the dead-letter topic).

Every role may DESCRIBE the sandguard topics (names and partitions: what a client needs to
find its topics, and what ``ensure_topics`` needs to see they exist). Topics are created by
an admin identity (``sandguard topics create``), never by the components. ``apply_acls``
creates the bindings with the admin identity (CreateAcls is idempotent);
``kafka_acls_commands`` prints the same as ``kafka-acls.sh`` lines for operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import CreateAclsRequest

from sandguard.bus.exceptions import KafkaSecurityError
from sandguard.bus.security import KafkaSecurity
from schemas import topics as t

# Consumer groups and topic prefixes of the components (their defaults).
PROCESSOR_APP = "sandguard-processor"  # Faust app id: its group and its changelog topics
ENFORCER_GROUPS = "sandguard-enforcer."  # one group per host
MANAGER_GROUPS = "sandbox-manager."  # one group per manager
SINK_GROUP = "sandguard-sink"
TOPIC_PREFIX = "sandguard."


class Resource(IntEnum):
    """Kafka's resource type codes (CreateAcls)."""

    TOPIC = 2
    GROUP = 3


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class AclOperation(IntEnum):
    ALL = 2
    READ = 3
    WRITE = 4
    DESCRIBE = 8


ALLOW = 3  # Kafka's AclPermissionType.ALLOW


@dataclass(frozen=True)
class Binding:
    resource: Resource
    name: str
    pattern: Pattern
    operation: AclOperation


@dataclass(frozen=True)
class Role:
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    groups: tuple[tuple[str, Pattern], ...] = ()
    owned_prefixes: tuple[str, ...] = ()  # topics the role creates and uses (changelogs)


ROLES: dict[str, Role] = {
    # Observations, and the results of the execs its kernel layer killed (block_exec): an
    # action result reports what was done, it commands nothing.
    "collector": Role(writes=(t.METRICS, t.PROCESSES, t.AUDIT, t.KERNEL, t.ACTIONS)),
    "processor": Role(
        reads=(t.METRICS, t.PROCESSES, t.POLICIES, t.AUDIT, t.KERNEL),
        writes=(t.VIOLATIONS, t.ENFORCEMENT, t.DEADLETTER),
        groups=((PROCESSOR_APP, Pattern.LITERAL),),
        owned_prefixes=(PROCESSOR_APP + "-",),
    ),
    "enforcer": Role(
        reads=(t.ENFORCEMENT,),
        writes=(t.ACTIONS, t.DEADLETTER),
        groups=((ENFORCER_GROUPS, Pattern.PREFIXED),),
    ),
    # Its watcher follows what is decided and done about its sandboxes (reading gives no power);
    # its exec gate reads the collector's kernel_covered on audit (kernel_gate=True).
    "manager": Role(
        reads=(t.ENFORCEMENT, t.ACTIONS, t.VIOLATIONS, t.AUDIT),
        writes=(t.POLICIES, t.AUDIT),
        groups=((MANAGER_GROUPS, Pattern.PREFIXED),),
    ),
    "sink": Role(reads=tuple(t.TOPICS), writes=(t.DEADLETTER,), groups=((SINK_GROUP, Pattern.LITERAL),)),
}


def bindings(role: str, namespace: str = "") -> list[Binding]:
    """The ACLs of ``role``; names carry the namespace that prefixes topics and groups."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {sorted(ROLES)}")
    r, ns = ROLES[role], namespace
    out = [Binding(Resource.TOPIC, ns + TOPIC_PREFIX, Pattern.PREFIXED, AclOperation.DESCRIBE)]
    out += [Binding(Resource.TOPIC, ns + name, Pattern.LITERAL, AclOperation.READ) for name in r.reads]
    out += [Binding(Resource.TOPIC, ns + name, Pattern.LITERAL, AclOperation.WRITE) for name in r.writes]
    out += [Binding(Resource.TOPIC, ns + p, Pattern.PREFIXED, AclOperation.ALL) for p in r.owned_prefixes]
    out += [Binding(Resource.GROUP, ns + g, pattern, AclOperation.READ) for g, pattern in r.groups]
    return out


def kafka_acls_commands(role: str, principal: str, namespace: str = "") -> list[str]:
    """The same bindings as ``kafka-acls.sh`` command lines (for operators)."""
    lines = []
    for b in bindings(role, namespace):
        kind = "--topic" if b.resource is Resource.TOPIC else "--group"
        pattern = "prefixed" if b.pattern is Pattern.PREFIXED else "literal"
        lines.append(
            f"kafka-acls.sh --add --allow-principal User:{principal} --operation {b.operation.name.title()}"
            f" {kind} {b.name} --resource-pattern-type {pattern}"
        )
    return lines


async def apply_acls(
    bootstrap: str, admin: KafkaSecurity, principals: dict[str, str], namespace: str = ""
) -> int:
    """Creates the bindings of each role for its principal (role -> SCRAM user name) with the
    admin identity; returns how many. Raises KafkaSecurityError when the broker refuses one."""
    # aiokafka's admin client has no CreateAcls; its public low-level client sends the request.
    client = AIOKafkaClient(bootstrap_servers=bootstrap, **admin.client_options())
    await client.bootstrap()
    count = 0
    try:
        node = client.get_random_node()
        for role, user in principals.items():
            for b in bindings(role, namespace):
                request = CreateAclsRequest(
                    b.resource, b.name, b.pattern, f"User:{user}", "*", b.operation, ALLOW
                )
                response = await client.send(node, request)
                for code, message in response.creation_responses:
                    if code:
                        raise KafkaSecurityError("acls", bootstrap, f"{b} for {user}: error {code} {message}")
                count += 1
    finally:
        await client.close()
    return count
