"""Sandbox lifecycle cost beside the bare engine, side by side in one run.

    python bench/sandbox_lifecycle.py --json [--iterations 20] [--image sandguard/busybox:1]

Measures, interleaved so a noisy host slows all of them alike:

* create+start: ``SandboxManager.create_sandbox()`` (hardened, NONE network, events
  published on the in-process bus) beside a bare ``docker run -d`` of the same image and
  command (the CLI, and its SDK equivalent: create + start), and beside the same with
  ``--network none`` (like for like: a default run also sets up a bridge endpoint);
* exec: ``execute(sid, "true")`` (validated, audited) beside ``docker exec <id> true``
  (the CLI, and its SDK equivalent: exec create + start + inspect);
* 1 MiB write and read: ``write_file``/``read_file`` (validated, symlink-checked,
  audited) beside the bare archive API (put_archive/get_archive) and ``docker cp``;
* workspace (issue 15): create+destroy of a sandbox whose /work and /tmp are ext4 images
  on loop devices (the default) beside one whose /work and /tmp are tmpfs (the former
  default), and 256 MiB written (``dd conv=fsync``) and read back (warm, and with
  ``iflag=direct`` where the image's dd has it) in /work of each.

Ratios are ours over the bare CLI (the targets: create+start ≤ 1.3×, exec ≤ 1.5×) and
over the SDK equivalents (stricter: no CLI start-up in the baseline). Every loop is
bounded by --iterations; everything made is labelled and removed.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import docker

from sandbox import SandboxManager
from sandguard.bus import LocalBus
from schemas import ResourceLimits, SecurityPolicy

try:
    from bench import cli
    from bench.stats import percentile
except ModuleNotFoundError:  # run as a script (python bench/x.py): bench/ is on the path
    import cli  # type: ignore[import-not-found,no-redef]
    from stats import percentile  # type: ignore[import-not-found,no-redef]

MIB = 1024 * 1024
LIFETIME_S = 600
CREATE_TARGET = 1.3
EXEC_TARGET = 1.5
WARMUP = 2


def summary(samples: list[float]) -> dict[str, float]:
    p50, p95 = percentile(samples, 50), percentile(samples, 95)
    return {"p50": round(p50, 2), "p95": round(p95, 2), "n": len(samples)}


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return (time.perf_counter() - started) * 1000


class Bare:
    """The bare engine: CLI and SDK, same image, labelled for removal."""

    def __init__(self, client: Any, image: str, label: str) -> None:
        self.api = client.api
        self.image = image
        self.label = label
        self.cmd = ["sleep", str(LIFETIME_S)]

    def run_cli(self, *options: str) -> str:
        out = subprocess.run(
            ["docker", "run", "-d", "--label", self.label, *options, self.image, *self.cmd],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip()

    def run_sdk(self, network: str | None = None) -> str:
        key, value = self.label.split("=", 1)
        host = self.api.create_host_config(network_mode=network) if network else None
        cid = str(
            self.api.create_container(self.image, self.cmd, labels={key: value}, host_config=host)["Id"]
        )
        self.api.start(cid)
        return cid

    def exec_cli(self, cid: str) -> None:
        subprocess.run(["docker", "exec", cid, "true"], check=True, capture_output=True)

    def exec_sdk(self, cid: str) -> None:
        exec_id = self.api.exec_create(cid, ["true"])["Id"]
        self.api.exec_start(exec_id)
        if self.api.exec_inspect(exec_id)["ExitCode"] != 0:
            raise RuntimeError("bare exec failed")

    def put(self, cid: str, data: bytes) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("blob.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        self.api.put_archive(cid, "/tmp", buf.getvalue())

    def get(self, cid: str) -> bytes:
        stream, _ = self.api.get_archive(cid, "/tmp/blob.txt")
        return b"".join(stream)

    def cp(self, cid: str, src: Path, dst: Path) -> None:
        subprocess.run(["docker", "cp", str(src), f"{cid}:/tmp/cp.txt"], check=True, capture_output=True)
        subprocess.run(["docker", "cp", f"{cid}:/tmp/cp.txt", str(dst)], check=True, capture_output=True)

    def remove_all(self) -> None:
        for c in self.api.containers(all=True, filters={"label": self.label}):
            self.api.remove_container(c["Id"], force=True, v=True)


async def bench_create(manager: SandboxManager, bare: Bare, n: int) -> dict[str, list[float]]:
    runs: dict[str, Callable[[], Awaitable[Any]]] = {
        "ours": manager.create_sandbox,
        "docker_cli": lambda: asyncio.to_thread(bare.run_cli),
        "docker_sdk": lambda: asyncio.to_thread(bare.run_sdk),
        # Ours has no network (policy NONE): the same for the bare engine, for a like-for-like view.
        "docker_cli_network_none": lambda: asyncio.to_thread(bare.run_cli, "--network", "none"),
        "docker_sdk_network_none": lambda: asyncio.to_thread(bare.run_sdk, "none"),
    }
    out: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(n + WARMUP):
        for name, run in runs.items():
            ms = await timed(run)
            if i >= WARMUP:
                out[name].append(ms)
    return out


async def bench_exec(
    manager: SandboxManager, bare: Bare, sid: str, cid: str, n: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ours": [], "docker_cli": [], "docker_sdk": []}
    for i in range(n + WARMUP):
        ours = await timed(lambda: manager.execute(sid, "true"))
        cli = await timed(lambda: asyncio.to_thread(bare.exec_cli, cid))
        sdk = await timed(lambda: asyncio.to_thread(bare.exec_sdk, cid))
        if i >= WARMUP:
            out["ours"].append(ours)
            out["docker_cli"].append(cli)
            out["docker_sdk"].append(sdk)
    return out


async def bench_files(manager: SandboxManager, bare: Bare, sid: str, cid: str, n: int) -> dict[str, Any]:
    data = bytes(range(256)) * (MIB // 256)
    write: dict[str, list[float]] = {"ours": [], "docker_sdk_put_archive": []}
    read: dict[str, list[float]] = {"ours": [], "docker_sdk_get_archive": []}
    cp: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "blob.txt", Path(tmp) / "back.txt"
        src.write_bytes(data)
        for i in range(n + WARMUP):
            w = await timed(lambda: manager.write_file(sid, "/tmp/blob.txt", data))
            r = await timed(lambda: manager.read_file(sid, "/tmp/blob.txt"))
            bw = await timed(lambda: asyncio.to_thread(bare.put, cid, data))
            br = await timed(lambda: asyncio.to_thread(bare.get, cid))
            c = await timed(lambda: asyncio.to_thread(bare.cp, cid, src, dst))
            if i >= WARMUP:
                write["ours"].append(w)
                read["ours"].append(r)
                write["docker_sdk_put_archive"].append(bw)
                read["docker_sdk_get_archive"].append(br)
                cp.append(c)
    if await manager.read_file(sid, "/tmp/blob.txt") != data:
        raise RuntimeError("read back differs")
    return {"write": write, "read": read, "docker_cp_roundtrip": cp}


WORKSPACE_MB = 256
# 256 MiB of tmpfs must fit in memory for the baseline to finish at all.
WORKSPACE_POLICY = ResourceLimits(memory_mb=768, disk_mb=1024, execution_timeout=LIFETIME_S)
WRITE = f"dd if=/dev/zero of=/work/bench.dat bs=1M count={WORKSPACE_MB} conv=fsync"
READ = "dd if=/work/bench.dat of=/dev/null bs=1M"
READ_DIRECT = READ + " iflag=direct"


async def dd(manager: SandboxManager, sid: str, command: str) -> float | None:
    """MiB/s of one dd in the sandbox (the exec's own cost included, alike for both); None
    when the command is refused (an option the image's dd lacks, O_DIRECT on tmpfs)."""
    result = await manager.execute(sid, command, timeout=120)
    if result.exit_code != 0:
        return None
    return round(WORKSPACE_MB / (result.duration_ms / 1000), 1)


async def bench_workspace(managers: dict[str, SandboxManager], n: int) -> dict[str, Any]:
    create: dict[str, list[float]] = {kind: [] for kind in managers}
    for i in range(n + WARMUP):
        for kind, manager in managers.items():
            started = time.perf_counter()
            sid = await manager.create_sandbox()
            if i >= WARMUP:
                create[kind].append((time.perf_counter() - started) * 1000)
            await manager.destroy_sandbox(sid)
    speeds: dict[str, dict[str, list[float]]] = {
        k: {"write": [], "read": [], "read_direct": []} for k in managers
    }
    sids = {kind: await manager.create_sandbox() for kind, manager in managers.items()}
    for _ in range(3):
        for kind, manager in managers.items():
            for name, command in (("write", WRITE), ("read", READ), ("read_direct", READ_DIRECT)):
                mib_s = await dd(manager, sids[kind], command)
                if mib_s is not None:
                    speeds[kind][name].append(mib_s)
    return {"create_ms": create, "mib_per_s": speeds}


def workspace_summary(raw: dict[str, Any]) -> dict[str, Any]:
    create = {k: summary(v) for k, v in raw["create_ms"].items()}
    speeds = {
        kind: {name: round(percentile(v, 50), 1) if v else None for name, v in by_op.items()}
        for kind, by_op in raw["mib_per_s"].items()
    }
    return {
        "create_destroy_n": create["disk"]["n"],
        "create_ms": create,
        "create_disk_vs_tmpfs": ratio(create["disk"], create["tmpfs"]),
        "create_target": CREATE_TARGET,
        "create_met": ratio(create["disk"], create["tmpfs"]) <= CREATE_TARGET,
        f"throughput_{WORKSPACE_MB}mib_mib_per_s": speeds,
        "write_disk_vs_tmpfs": _speed_ratio(speeds, "write"),
        "read_disk_vs_tmpfs": _speed_ratio(speeds, "read"),
    }


def _speed_ratio(speeds: dict[str, dict[str, float | None]], name: str) -> float | None:
    disk, tmpfs = speeds["disk"][name], speeds["tmpfs"][name]
    return round(disk / tmpfs, 3) if disk and tmpfs else None


async def run_workspace(image: str, label: str, iterations: int) -> dict[str, Any]:
    """The workspace comparison, on managers of its own (one per kind of storage)."""
    policy = SecurityPolicy(resource_limits=WORKSPACE_POLICY)
    bus = LocalBus()
    managers = {
        kind: SandboxManager(policy, bus=bus, image=image, labels={"bench": label}, workspace=kind)
        for kind in ("disk", "tmpfs")
    }
    try:
        return workspace_summary(await bench_workspace(managers, iterations))
    finally:
        for manager in managers.values():
            await manager.cleanup()


def ratio(a: dict[str, float], b: dict[str, float]) -> float:
    return round(a["p50"] / b["p50"], 3)


async def main(iterations: int, image: str) -> dict[str, Any]:
    label = f"sandguard.bench={uuid.uuid4().hex[:12]}"
    client = docker.from_env()
    bare = Bare(client, image, label)
    policy = SecurityPolicy(resource_limits=ResourceLimits(memory_mb=128, execution_timeout=LIFETIME_S))
    manager = SandboxManager(policy, bus=LocalBus(), image=image, labels={"bench": label.split("=")[1]})
    try:
        await manager.start()
        create = await bench_create(manager, bare, iterations)
        sid = manager.list_sandboxes()[0]
        cid = await asyncio.to_thread(bare.run_sdk)
        execs = await bench_exec(manager, bare, sid, cid, iterations)
        files = await bench_files(manager, bare, sid, cid, max(5, iterations // 2))
        workspace = await run_workspace(image, label.split("=")[1], iterations)
    finally:
        await manager.cleanup()
        await asyncio.to_thread(bare.remove_all)
        client.close()
    c = {k: summary(v) for k, v in create.items()}
    e = {k: summary(v) for k, v in execs.items()}
    w = {k: summary(v) for k, v in files["write"].items()}
    r = {k: summary(v) for k, v in files["read"].items()}
    ratios = {
        "create_vs_docker_run_cli": ratio(c["ours"], c["docker_cli"]),
        "create_vs_docker_run_sdk": ratio(c["ours"], c["docker_sdk"]),
        "create_vs_docker_run_cli_network_none": ratio(c["ours"], c["docker_cli_network_none"]),
        "create_vs_docker_run_sdk_network_none": ratio(c["ours"], c["docker_sdk_network_none"]),
        "exec_vs_docker_exec_cli": ratio(e["ours"], e["docker_cli"]),
        "exec_vs_docker_exec_sdk": ratio(e["ours"], e["docker_sdk"]),
        "write_vs_put_archive": ratio(w["ours"], w["docker_sdk_put_archive"]),
        "read_vs_get_archive": ratio(r["ours"], r["docker_sdk_get_archive"]),
    }
    return {
        "image": image,
        "iterations": iterations,
        "create_start_ms": c,
        "exec_ms": e,
        "write_1mb_ms": w,
        "read_1mb_ms": r,
        "docker_cp_1mb_roundtrip_ms": summary(files["docker_cp_roundtrip"]),
        "ratios": ratios,
        "workspace": workspace,
        "targets": {"create_vs_docker_run": CREATE_TARGET, "exec_vs_docker_exec": EXEC_TARGET},
        "met": {
            "create": ratios["create_vs_docker_run_cli"] <= CREATE_TARGET,
            "create_like_for_like": ratios["create_vs_docker_run_cli_network_none"] <= CREATE_TARGET,
            "exec": ratios["exec_vs_docker_exec_cli"] <= EXEC_TARGET,
        },
    }


if __name__ == "__main__":
    parser = cli.parser(__doc__)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--image", default="sandguard/busybox:1")
    args = parser.parse_args()
    cli.emit(asyncio.run(main(args.iterations, args.image)), args.json)
