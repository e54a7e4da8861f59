"""The facade: ``Engine`` is what the CLI and the pytest plugin use (create, start, run,
stop, kill, wait, rm, exec, logs, inspect, ps, prune).  It is the one place where the
concrete store, cgroup manager and runtime are put together; heavy modules are imported
when first needed so that ``sbx ps`` stays fast."""

from __future__ import annotations

import builtins
import os
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sbx.errors import ContainerNotFound, IllegalState, SbxError
from sbx.layout import Layout
from sbx.linux import proc
from sbx.runtime.records import ContainerRecord, ContainerStore
from sbx.runtime.spec import RunOptions
from sbx.runtime.state import Status


@dataclass(frozen=True)
class PruneReport:
    containers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    reclaimed: int = 0


class Engine:
    def __init__(self, layout: Layout) -> None:
        from sbx.rootless.idmap import current

        self.layout = layout
        layout.make_private(rootless=current().rootless)  # two stats when already private
        self.containers = ContainerStore(layout)
        self._images: Any = None
        self._cg_host: tuple[str, Any] | None = None

    @classmethod
    def from_env(cls, root: str | None = None) -> Engine:
        from sbx.rootless.idmap import current

        layout = Layout.from_env(root)
        if current().rootless:
            layout.check_owner()
        return cls(layout)

    # -- images ----------------------------------------------------------------
    @property
    def images(self) -> Any:
        """The image store (``sbx.store.Store``), opened on first use."""
        if self._images is None:
            from sbx.store import Store

            self._images = Store(self.layout)
        return self._images

    def pull(self, image: str, *, out: Any = None, platform: str | None = None) -> Any:
        """Pull ``image`` from its registry into the store (``sbx.images.pull.PullResult``);
        ``out`` gets Docker's progress lines (``None``: quiet)."""
        from sbx.rootless import userns

        if userns.needed():  # layers are unpacked with their owners: inside the user's namespace
            from sbx.rootless.calls import call

            return call("pull", self.layout, {"image": image, "platform": platform,
                                              "quiet": out is None},
                        None if out is None else (lambda b: (out.write(b.decode()), out.flush())))
        from sbx.images.pull import Puller
        from sbx.oci.manifest import Platform

        plat = Platform.parse(platform) if platform else None
        return Puller(self.images).pull(image, platform=plat, out=out)

    def build(self, context: str | os.PathLike[str], *, dockerfile: str | os.PathLike[str] | None = None,
              tags: tuple[str, ...] | list[str] = (), build_args: dict[str, str] | None = None,
              target: str | None = None, no_cache: bool = False, pull: bool = False,
              network: str = "default", labels: dict[str, str] | None = None,
              output: Any = None, allow: tuple[str, ...] | list[str] = ()) -> Any:
        """Build an image from a Dockerfile (``sbx build``); returns ``BuildResult``.

        ``output`` receives the build's output as bytes (Docker's classic lines and the
        output of RUN steps); None discards it.  Raises ``BuildError`` (or
        ``DockerfileError``, naming the file and line) when the build fails.  ``network``
        is the RUN steps' (default: a namespace of their own with outbound access; none;
        host) and ``allow`` the entitlements (``network.host`` for ``RUN --network=host``).
        """
        from sbx.rootless import userns

        if userns.needed():  # RUN, COPY and layer diffs need the user's namespace
            from sbx.rootless.calls import call

            return call("build", self.layout, {
                "context": str(context), "dockerfile": str(dockerfile) if dockerfile else None,
                "tags": tuple(tags), "build_args": build_args, "target": target,
                "no_cache": no_cache, "pull": pull, "network": network, "labels": labels,
                "allow": tuple(allow)}, output)
        from sbx.build.options import BuildOptions, Progress
        from sbx.build.session import build

        self.require_root("building images")
        opts = BuildOptions(context=Path(context), dockerfile=Path(dockerfile) if dockerfile else None,
                            tags=tuple(tags), build_args=tuple((build_args or {}).items()),
                            target=target, no_cache=no_cache, pull=pull, network=network,
                            labels=tuple((labels or {}).items()), allow=tuple(allow))
        return build(self, opts, Progress(output))

    def _cgroup(self, cid: str) -> Any:
        """The container's cgroup manager; the host's cgroup layout is read once per Engine
        (and the cgroup modules are loaded before any fork, never in the monitor)."""
        from sbx.cgroups import detect_mode, open_manager

        if self._cg_host is None:
            with open("/proc/self/mountinfo") as f:
                mountinfo = f.read()
            try:
                mode = detect_mode(mountinfo)
            except SbxError:
                mode = None
            self._cg_host = (mountinfo, mode)
        mountinfo, mode = self._cg_host
        return open_manager(f"sbx/{cid}", mountinfo=mountinfo, mode=mode)

    def _cgroup_view(self, spec: Any) -> Any:
        """What the container sees at /sys/fs/cgroup (runtime/cgroupview.py), from the
        host's cgroup mounts read once per Engine (by ``_cgroup``)."""
        from sbx.cgroups.mode import DEFAULT_ROOT, mounts_under
        from sbx.runtime import cgroupview

        if self._cg_host is None:
            self._cgroup("view")
        assert self._cg_host is not None
        mounts = mounts_under(DEFAULT_ROOT, self._cg_host[0])
        return cgroupview.plan(mounts, cgroupns=spec.cgroupns, privileged=spec.privileged)

    @staticmethod
    def require_root(what: str = "running containers") -> None:
        """Root, or an ordinary user whose namespace ``U`` exists or can be made (rootless
        mode); otherwise one clear error saying what to enable."""
        from sbx.rootless import userns

        if userns.needed():
            userns.ensure(userns.state_dir())

    # -- lifecycle ---------------------------------------------------------------
    def create(self, image: str, opts: RunOptions, *, name: str | None = None) -> ContainerRecord:
        return self._create(image, opts, name)[0]

    def _create(self, image: str, opts: RunOptions, name: str | None) -> tuple[ContainerRecord, Any]:
        """The record and the image it was made from (``run`` starts it without reading
        either again)."""
        from sbx import names
        from sbx.runtime import etcfiles
        from sbx.runtime import spec as specmod

        self.require_root()
        img = self.images.resolve(image)
        cid = self.containers.new_id()
        if name:
            names.validate_name(name)
        else:
            name = names.random_name(self.containers.name_taken)
        config = img.image.config.to_json()
        spec = specmod.from_image(image, str(img.id), config, opts, hostname=cid[:12])
        if spec.network.startswith("container:"):
            other = self.containers.get(spec.network.split(":", 1)[1])
            spec = replace(spec, network=f"container:{other.id}")
        if spec.ipc_mode.startswith("container:"):
            other = self.containers.get(spec.ipc_mode.split(":", 1)[1])
            spec = replace(spec, ipc_mode=f"container:{other.id}")
        self._check_limits_possible(spec)
        self._check_devices(spec)
        from sbx.runtime import drivers

        driver, _why = drivers.choose(self.layout)
        self.layout.containers.mkdir(parents=True, exist_ok=True)
        self.containers.reserve_name(name, cid)
        try:
            if spec.userns:  # --userns=auto: the container's own id range (userns_auto.py)
                from sbx.runtime import userns_auto

                umap, gmap = userns_auto.allocate(self.layout.root, cid,
                                                  userns_auto.parse(spec.userns).size)
                spec = replace(spec, uid_map=umap, gid_map=gmap)
            rec = self.containers.create(cid, name, spec)
            files = self.containers.files(cid)
            if driver != "overlay":
                files.driver_file.write_text(driver)
            etcfiles.write(files.hosts, files.hostname, files.resolv, hostname=spec.hostname,
                           network=spec.network, outbound=spec.outbound)
        except BaseException:
            (self.layout.names_dir / name).unlink(missing_ok=True)
            if spec.uid_map:
                from sbx.runtime import userns_auto

                userns_auto.release(cid)
            raise
        return rec, img

    @staticmethod
    def _check_devices(spec: Any) -> None:
        """``--device`` paths must be device nodes (or directories of them) now; in
        rootless mode the permissions cannot be enforced: one line says so."""
        if not spec.devices:
            return
        from sbx.rootless.idmap import current
        from sbx.runtime.devicespec import resolve_all

        resolve_all(spec.devices)
        if current().rootless and any(set(d.cgroup_permissions) != set("rwm") for d in spec.devices):
            from sbx.diag import get_logger

            get_logger(__name__).warning(
                "sbx: note: --device permissions are not enforced in rootless mode (no "
                "device cgroup in a user namespace): the host node's own modes apply")

    def _check_limits_possible(self, spec: Any) -> None:
        """Rootless without a delegated cgroup: a limit is refused before anything is made."""
        from sbx.cgroups import CgroupError, Resources
        from sbx.rootless.idmap import current

        if not current().rootless:
            return
        lim = spec.limits
        if Resources(memory=lim.memory, memory_swap=lim.memory_swap, cpus=lim.cpus,
                     cpu_shares=lim.cpu_shares, pids=lim.pids).is_empty():
            return
        probe = self._cgroup("limits-probe")
        if probe.version == "none":
            raise CgroupError(
                f"cannot apply resource limits (--memory, --cpus, --pids-limit) in rootless "
                f"mode: {getattr(probe, 'reason', 'no cgroup is writable by this user')}",
                hint="run sbx as root, or on a cgroup v2 host from a delegated systemd user "
                     "scope (systemd-run --user --scope sbx ...), or drop the limits")

    def start(self, ref: str, *, attached: bool = False,
              output_fds: tuple[int, int] = (1, 2)) -> Any:
        """Start a created container; attached, its output goes to ``output_fds``."""
        self.require_root()
        return self._start(self.containers.get(ref), None, attached, output_fds)

    def _start(self, rec: ContainerRecord, img: Any, attached: bool,
               output_fds: tuple[int, int]) -> Any:
        from sbx.runtime import launcher

        if rec.state.status is Status.RUNNING:
            if attached:
                raise IllegalState(f"container {rec.name} is already running",
                                   hint="use sbx logs -f or sbx exec to reach it")
            return None
        if not rec.state.status.can_start():
            raise IllegalState(f"cannot start container {rec.name}: it is {rec.state.status.value}")
        if img is None:
            img = self.images.resolve(rec.spec.image_id)
        join = ""
        if rec.spec.network.startswith("container:"):
            other = self.containers.get(rec.spec.network.split(":", 1)[1])
            if other.state.status is not Status.RUNNING:
                raise IllegalState(f"cannot join the network of container {other.name}: it is not running")
            join = f"/proc/{other.state.pid}/ns/net"
        mounts = self._host_mounts(rec)
        plan = launcher.build_plan(self.containers, rec, self.layout.layers,
                                   list(self.images.layer_paths(img)), mounts,
                                   ipc_donor=self._ipc_donor(rec))
        cgroup = self._cgroup(rec.id)
        plan = replace(plan, cgroup=self._cgroup_view(rec.spec), sysctls=rec.spec.sysctls)
        return launcher.launch(self.containers, rec, plan, cgroup,
                               attached=attached, join_netns=join, output_fds=output_fds)

    def _ipc_donor(self, rec: ContainerRecord) -> str:
        """``--ipc container:NAME``: the donor's /proc/<pid>/ns directory; as Docker 20.10,
        the donor must run and have a shareable IPC (shareable, host, or joined itself)."""
        mode = rec.spec.ipc_mode
        if not mode.startswith("container:"):
            return ""
        ref = mode.split(":", 1)[1]
        try:
            other = self.containers.get(ref)
        except ContainerNotFound as e:
            raise ContainerNotFound(f"can't join IPC of container {ref[:12]}: {e.one_line()}") from None
        if other.state.status is not Status.RUNNING or not proc.is_alive(other.state.pid,
                                                                         other.state.pid_start):
            raise IllegalState(f"can't join IPC of container {other.name}: container {other.name} is not running")
        om = other.spec.ipc_mode
        if not (om in ("shareable", "host") or om.startswith("container:")):
            raise IllegalState(f"can't join IPC of container {other.name}: non-shareable IPC",
                               hint="use --ipc shareable for the donor container")
        return f"/proc/{other.state.pid}/ns"

    def _host_mounts(self, rec: ContainerRecord) -> tuple:
        out = []
        for m in rec.spec.mounts:
            if m.type == "volume":
                vol = self.layout.volume_dir(m.name or rec.id[:12] + "-" + m.target.strip("/").replace("/", "-"))
                vol.mkdir(parents=True, exist_ok=True)
                m = replace(m, source=str(vol))
            out.append(m)
        return tuple(out)

    def run(self, image: str, opts: RunOptions, *, name: str | None = None,
            attached: bool = False, output_fds: tuple[int, int] = (1, 2)) -> Any:
        rec, img = self._create(image, opts, name)
        try:
            return self._start(rec, img, attached, output_fds)
        except BaseException:  # (also an interrupt between create and start)
            if opts.auto_remove:
                self.remove_quietly(rec.id)
            raise

    def remove_quietly(self, cid: str) -> None:
        """Best-effort forced removal (clean-up after a failed start)."""
        try:
            self.remove(cid, force=True)
        except SbxError:
            pass

    def kill(self, ref: str, sig: int = signal.SIGKILL) -> ContainerRecord:
        rec = self.containers.get(ref)
        if not rec.state.status.can_kill():
            raise IllegalState(f"cannot kill container: {rec.name}: container {rec.id[:12]} is not running")
        if not proc.signal_checked(rec.state.pid, rec.state.pid_start, sig):
            raise IllegalState(f"cannot kill container: {rec.name}: its process has exited")
        return rec

    def stop(self, ref: str, timeout: float | None = None) -> ContainerRecord:
        rec = self.containers.get(ref)
        if rec.state.status is not Status.RUNNING:
            return rec
        from sbx.units import parse_signal

        t = timeout if timeout is not None else (rec.spec.stop_timeout if rec.spec.stop_timeout is not None else 10)
        sig = parse_signal(rec.spec.stop_signal or "SIGTERM")
        proc.signal_checked(rec.state.pid, rec.state.pid_start, sig)
        if not self._wait_stopped(rec, t):
            proc.signal_checked(rec.state.pid, rec.state.pid_start, signal.SIGKILL)
            self._wait_stopped(rec, 10)
        return rec

    def _wait_stopped(self, rec: ContainerRecord, timeout: float) -> bool:
        """Wait until the monitor has recorded the exit (it exits right after)."""
        from sbx.runtime import waiting

        return waiting.wait_pid_gone(rec.state.monitor_pid, rec.state.monitor_start, timeout) and \
            self._settled(rec.id)

    def _settled(self, cid: str) -> bool:
        try:
            return self.containers.load(cid).state.status is not Status.RUNNING
        except ContainerNotFound:
            return True

    def wait(self, ref: str) -> int:
        from sbx.runtime import waiting

        rec = self.containers.get(ref)
        if rec.state.status is Status.RUNNING:
            waiting.wait_pid_gone(rec.state.monitor_pid, rec.state.monitor_start, None)
            try:
                rec = self.containers.load(rec.id)
            except ContainerNotFound:
                return rec.state.exit_code
        elif rec.state.status is Status.CREATED:
            while rec.state.status is Status.CREATED:  # docker waits for it to run and exit
                time.sleep(0.1)
                rec = self.containers.load(rec.id)
            return self.wait(rec.id)
        return rec.state.exit_code

    def remove(self, ref: str, *, force: bool = False) -> ContainerRecord:
        rec = self.containers.get(ref)
        if rec.state.status is Status.RUNNING:
            if not force:
                raise IllegalState(
                    f"cannot remove container {rec.name}: container is running",
                    hint="stop the container before removing or force remove (rm -f)")
            self._kill_now(rec)
        with self.containers.locked(rec.id):
            self._cleanup_orphan(rec)
            self.containers.delete_files(rec)
        return rec

    def _kill_now(self, rec: ContainerRecord) -> None:
        """Forced removal's fast path: SIGKILL the container's init, wait until its monitor
        has reaped it, then SIGKILL the monitor too (its exit record and log drain are about
        to be deleted: waiting for its exit bookkeeping cost ~40 ms) and empty and remove
        the cgroup.  Pids are signalled only if their start times still match."""
        from sbx.runtime import waiting

        st = rec.state
        monitor_alive = proc.is_alive(st.monitor_pid, st.monitor_start)
        proc.signal_checked(st.pid, st.pid_start, signal.SIGKILL)
        waiting.wait_pid_gone(st.pid, st.pid_start, 10)
        if monitor_alive:  # the monitor reaps at once; /proc/PID stays while it is a zombie
            deadline = time.monotonic() + 1.0
            while os.path.exists(f"/proc/{st.pid}") and time.monotonic() < deadline:
                time.sleep(0.0002)
            proc.signal_checked(st.monitor_pid, st.monitor_start, signal.SIGKILL)
        self._cleanup_orphan(rec)

    def _cleanup_orphan(self, rec: ContainerRecord) -> None:
        """Kill and remove whatever a dead monitor left (cgroup, processes)."""
        try:
            cg = self._cgroup(rec.id)
            cg.kill_all()
            cg.destroy()
        except SbxError:
            pass

    # -- queries -----------------------------------------------------------------
    def list(self, *, all: bool = False) -> list[ContainerRecord]:
        recs = self.containers.all()
        if not all:
            recs = [r for r in recs if r.state.status is Status.RUNNING]
        return recs

    def get(self, ref: str) -> ContainerRecord:
        return self.containers.get(ref)

    def log_path(self, rec: ContainerRecord) -> Path:
        return self.containers.files(rec.id).log

    def exec(self, ref: str, es: Any) -> Any:
        from sbx.runtime import execute

        self.require_root()
        rec = self.containers.get(ref)
        if not rec.state.status.can_exec():
            raise IllegalState(f"container {rec.id[:12]} is not running",
                               hint=f"start it first: sbx start {rec.name}")
        from sbx.runtime import seccomp  # the container's filter, as its init got it

        return execute.start(rec, es, self._cgroup(rec.id).procs_files(),
                             seccomp_path=seccomp.prepare(rec.spec, self.layout.runroot))

    def prune_build_cache(self) -> Any:
        """Drop every build cache entry (``sbx builder prune``); returns ``PruneResult``
        (``entries``, ``reclaimed`` bytes)."""
        from sbx.build.cache import BuildCache

        return BuildCache(self.layout).prune()

    def prune_containers(self) -> PruneReport:
        removed, size = [], 0
        for rec in self.containers.all():
            if rec.state.status in (Status.EXITED, Status.CREATED, Status.DEAD):
                with self.containers.locked(rec.id):
                    size += self.containers.delete_files(rec)
                removed.append(rec.id)
        self.containers.sweep_removed()  # directories a killed monitor had not deleted yet
        return PruneReport(containers=tuple(removed), reclaimed=size)

    def images_in_use(self) -> dict[str, builtins.list[str]]:
        used: dict[str, builtins.list[str]] = {}
        for rec in self.containers.all():
            used.setdefault(rec.spec.image_id, []).append(rec.id)
        return used
