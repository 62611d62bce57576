"""The Kubernetes manifests, validated offline against the Kubernetes schemas that
kubernetes-validate ships (strict: an unknown field is an error), plus the checks a schema
cannot make: host access only where a component needs it, resources on every container,
a disruption budget for the processors, configuration only from the ConfigMap and Secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes" / "sandguard.yaml"
# The oldest Kubernetes release the manifests are written for (policy/v1 PDBs: 1.21+).
KUBERNETES_VERSION = "1.29"
# hostPID: only the collector reads other processes' /proc entries.
HOST_PID = {"sandguard-collector"}
# Root only where the component cannot work without it (docs/deployment.md says why).
ROOT = {"sandguard-collector"}
WORKLOADS = {"DaemonSet", "Deployment", "StatefulSet"}
CONFIG_MAP = "sandguard"


def _docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def _workloads() -> list[dict[str, Any]]:
    return [d for d in _docs() if d["kind"] in WORKLOADS]


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    pod = _pod(workload)
    return [*pod.get("initContainers", []), *pod["containers"]]


def _name(doc: dict[str, Any]) -> str:
    return str(doc["metadata"]["name"])


@pytest.mark.parametrize("doc", _docs(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_validates_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_refuses_what_is_wrong() -> None:
    """The schema check is real: a misspelt field and a wrong type both fail."""
    bad = _workloads()[0]
    bad["spec"]["template"]["spec"]["hostPid"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
    bad = _workloads()[0]
    bad["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = "1Gi"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_host_pid_only_where_needed() -> None:
    assert {_name(w) for w in _workloads() if _pod(w).get("hostPID")} == HOST_PID
    assert not any(_pod(w).get("hostNetwork") or _pod(w).get("hostIPC") for w in _workloads())


def test_host_mounts_are_read_only() -> None:
    for w in _workloads():
        host_volumes = {v["name"] for v in _pod(w).get("volumes", []) if "hostPath" in v}
        for c in _containers(w):
            for mount in c.get("volumeMounts", []):
                if mount["name"] in host_volumes:
                    assert mount.get("readOnly") is True, f"{_name(w)}/{c['name']}: {mount['mountPath']}"


def test_no_privileges_beyond_the_roles() -> None:
    for w in _workloads():
        pod_ctx = _pod(w).get("securityContext", {})
        for c in _containers(w):
            ctx = c["securityContext"]
            where = f"{_name(w)}/{c['name']}"
            assert not ctx.get("privileged") and ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True and ctx["capabilities"]["drop"] == ["ALL"], where
            non_root = pod_ctx.get("runAsNonRoot") or ctx.get("runAsNonRoot")
            assert bool(non_root) == (_name(w) not in ROOT), where


def test_every_container_has_requests_and_limits() -> None:
    for w in _workloads():
        for c in _containers(w):
            resources = c["resources"]
            for kind in ("requests", "limits"):
                assert set(resources[kind]) >= {"cpu", "memory"}, f"{_name(w)}/{c['name']} {kind}"


def test_processors_have_a_disruption_budget() -> None:
    processors = next(w for w in _workloads() if _name(w) == "sandguard-processor")
    budgets = [d for d in _docs() if d["kind"] == "PodDisruptionBudget"]
    labels = processors["spec"]["template"]["metadata"]["labels"]
    covering = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
    assert len(covering) == 1
    spec = covering[0]["spec"]
    assert spec.get("maxUnavailable") == 1 or 0 < spec.get("minAvailable", 0) < processors["spec"]["replicas"]


def test_configuration_only_from_the_config_map_and_secrets() -> None:
    secrets = {_name(d) for d in _docs() if d["kind"] == "Secret"}
    config_maps = {_name(d) for d in _docs() if d["kind"] == "ConfigMap"}
    assert config_maps == {CONFIG_MAP}
    for w in _workloads():
        for c in _containers(w):
            where = f"{_name(w)}/{c['name']}"
            assert len(c["args"]) == 1, f"{where}: options belong in the ConfigMap, not {c['args']}"
            for var in c.get("env", []):
                assert set(var) == {"name", "valueFrom"} and "fieldRef" in var["valueFrom"], where
            sources = c["envFrom"]
            assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} == {CONFIG_MAP}
            own = {s["secretRef"]["name"] for s in sources if "secretRef" in s}
            assert len(own) == 1 and own <= secrets, where
        for volume in _pod(w).get("volumes", []):
            assert set(volume) & {"configMap", "secret", "emptyDir", "hostPath", "persistentVolumeClaim"}


def test_each_component_reads_only_its_own_secret() -> None:
    owners: dict[str, set[str]] = {}
    for w in _workloads():
        for c in _containers(w):
            for s in c["envFrom"]:
                if "secretRef" in s:
                    owners.setdefault(s["secretRef"]["name"], set()).add(_name(w))
    assert all(len(names) == 1 for names in owners.values()), owners


def test_the_collector_has_the_privileges_of_its_compose_service_and_no_more() -> None:
    """The kernel event source's privileges (the BPF loader: SYS_ADMIN, the one it needs on this
    engine; tracefs read-only), the same in both deployments; never privileged."""
    compose = yaml.safe_load((MANIFEST.parents[1] / "compose.yaml").read_text())["services"]["collector"]
    (container,) = [c for w in _workloads() if _name(w) == "sandguard-collector" for c in _containers(w)]
    caps = set(container["securityContext"]["capabilities"]["add"])
    assert caps == set(compose["cap_add"]) == {"SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN"}
    assert not compose.get("privileged") and not container["securityContext"].get("privileged")
    host_mounts = {v.split(":")[1] for v in compose["volumes"] if v.startswith("/")}
    assert host_mounts <= {m["mountPath"] for m in container["volumeMounts"]}
    assert "/sys/kernel/tracing" in host_mounts and all(v.endswith(":ro") for v in compose["volumes"][:2])
