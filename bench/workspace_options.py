"""The ways to give a sandbox a size-limited /work and /tmp, side by side in one run (issue 15).

    python bench/workspace_options.py --json [--iterations 10] [--image sandguard/busybox:1]

Interleaved, so a noisy host slows all of them alike; each iteration makes the storage,
creates and starts the hardened container (sandbox.config), then removes both:

* ``tmpfs``: the former default, tmpfs-backed volumes (charged to the sandbox's memory);
* ``loop_volume``: ext4 images on loop devices mounted by the engine's ``local`` volume
  driver (sandbox.workspace: the choice);
* ``loop_bind``: the same images mounted on the host by the manager and bind-mounted in
  (one more mount per volume to manage, and the manager's mount namespace must be the
  engine's);

and probes the two that need the host's filesystem to cooperate: project quotas on the
filesystem holding the workspace directory (``prjquota`` mount option) and overlay2's
``--storage-opt size`` (xfs with pquota). Everything made is labelled and removed.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors

from sandbox.config import SANDBOX_GID, SANDBOX_UID, VOLUME_FLAGS, container_config, volume_sizes
from sandbox.workspace import DEFAULT_ROOT, Workspace, WorkspaceStore, release
from schemas import ResourceLimits, SecurityPolicy

try:
    from bench import cli
    from bench.stats import percentile
except ModuleNotFoundError:  # run as a script (python bench/x.py): bench/ is on the path
    import cli  # type: ignore[import-not-found,no-redef]
    from stats import percentile  # type: ignore[import-not-found,no-redef]

POLICY = SecurityPolicy(resource_limits=ResourceLimits(memory_mb=512, disk_mb=1024, execution_timeout=600))
WARMUP = 1


class Options:
    """The three ways, each a (setup, teardown) around one container create+start."""

    def __init__(self, api: Any, image: str, label: str, store: WorkspaceStore, mnt: Path) -> None:
        self.api, self.image, self.label, self.store, self.mnt = api, image, label, store, mnt
        self.n = 0

    def body(self, workspace: dict[str, str] | None) -> dict[str, Any]:
        labels = {"sandguard.bench": self.label}
        return container_config(POLICY, image=self.image, labels=labels, network_name=None,
                                volume_labels=labels, workspace=workspace)  # fmt: skip

    def make(self) -> Workspace:
        self.n += 1
        return self.store.make(f"bench-{self.n}", volume_sizes(1024), (SANDBOX_UID, SANDBOX_GID))

    def run(self, body: dict[str, Any]) -> str:
        cid = str(self.api.create_container_from_config(body, None)["Id"])
        self.api.start(cid)
        return cid

    def tmpfs(self) -> Callable[[], None]:
        cid = self.run(self.body(None))
        return lambda: self.api.remove_container(cid, force=True, v=True)

    def loop_volume(self) -> Callable[[], None]:
        ws = self.make()
        cid = self.run(self.body(ws.devices()))

        def down() -> None:
            self.api.remove_container(cid, force=True, v=True)
            release(ws)

        return down

    def loop_bind(self) -> Callable[[], None]:
        ws = self.make()
        points = []
        for disk in ws.disks:
            point = self.mnt / f"{self.n}{disk.target.replace('/', '_')}"
            point.mkdir()
            subprocess.run(["mount", "-t", "ext4", "-o", ",".join(VOLUME_FLAGS), disk.device, str(point)],
                           check=True)  # fmt: skip
            points.append((disk.target, point))
        body = self.body(None)
        body["HostConfig"]["Mounts"] = [
            {"Type": "bind", "Source": str(p), "Target": t, "BindOptions": {"Propagation": "rprivate"}}
            for t, p in points
        ]
        cid = self.run(body)

        def down() -> None:
            self.api.remove_container(cid, force=True, v=True)
            for _, point in points:
                subprocess.run(["umount", str(point)], check=True)
                point.rmdir()
            release(ws)

        return down


def probe_project_quota(directory: str) -> str:
    """Does the filesystem holding ``directory`` have project quotas on?"""
    target = subprocess.run(["findmnt", "-n", "-o", "TARGET,FSTYPE,OPTIONS", "-T", directory],
                            capture_output=True, text=True, check=False).stdout.split()  # fmt: skip
    if len(target) < 3:
        return f"unknown: findmnt found no filesystem for {directory}"
    point, fstype, options = target[:3]
    if "prjquota" in options or "pquota" in options:
        return f"available on {point} ({fstype})"
    return f"unavailable: {point} is {fstype} mounted without prjquota ({options})"


def probe_storage_opt(api: Any, image: str, label: str) -> str:
    host = api.create_host_config(storage_opt={"size": "1G"})
    try:
        cid = api.create_container(image, ["true"], labels={"sandguard.bench": label}, host_config=host)["Id"]
    except docker.errors.APIError as exc:
        return f"unavailable: {exc.explanation}"
    api.remove_container(cid, force=True)
    return "available"


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(samples, 50), 1),
        "p95": round(percentile(samples, 95), 1),
        "n": len(samples),
    }


def main(iterations: int, image: str) -> dict[str, Any]:
    label = uuid.uuid4().hex[:12]
    client = docker.from_env()
    store = WorkspaceStore(DEFAULT_ROOT, f"bench-{label}")
    times: dict[str, list[float]] = {"tmpfs": [], "loop_volume": [], "loop_bind": []}
    try:
        with tempfile.TemporaryDirectory() as mnt:
            opts = Options(client.api, image, label, store, Path(mnt))
            for i in range(iterations + WARMUP):
                for name, samples in times.items():
                    started = time.perf_counter()
                    down = getattr(opts, name)()
                    if i >= WARMUP:
                        samples.append((time.perf_counter() - started) * 1000)
                    down()
        probes = {
            "project_quota": probe_project_quota(DEFAULT_ROOT),
            "overlay_storage_opt": probe_storage_opt(client.api, image, label),
        }
    finally:
        for c in client.api.containers(all=True, filters={"label": f"sandguard.bench={label}"}):
            client.api.remove_container(c["Id"], force=True, v=True)
        store.close()
        client.close()
    stats = {k: summary(v) for k, v in times.items()}
    base = stats["tmpfs"]["p50"]
    return {
        "image": image,
        "iterations": iterations,
        "storage_and_create_start_ms": stats,
        "vs_tmpfs": {k: round(v["p50"] / base, 3) for k, v in stats.items()},
        "probes": probes,
    }


if __name__ == "__main__":
    parser = cli.parser(__doc__)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--image", default="sandguard/busybox:1")
    args = parser.parse_args()
    cli.emit(main(args.iterations, args.image), args.json)
