"""Idmapped mounts for ``--userns=auto`` (in the container's init, as host root, before
it joins the container's user namespace; see ``runtime/init.py``).

The image's layers stay as they are on disk (owned by 0, shared by every container and
by the host-id containers); each container sees them through mounts idmapped with its
own user namespace (Linux 5.12+, overlayfs layers 5.19+), so /etc/shadow is 0:0 inside:

- **lower layers**: each layer directory gets a detached idmapped copy of itself
  (``open_tree(OPEN_TREE_CLONE)``, ``mount_setattr(MOUNT_ATTR_IDMAP, userns fd)``) moved
  onto the same path in the container's private mount namespace, so overlay's short
  relative ``lowerdir=`` option is unchanged;
- **the upper layer is not idmapped**: overlay (mounted by host root, for its
  ``trusted.*`` xattrs) creates files there with the mounter's ids, which an idmapped
  upper cannot hold (EOVERFLOW); instead the fresh upper directory belongs to the
  container's root, and what the container writes is owned by its range on disk;
- **the copy driver**: its root (``upper``, copied by host root from the layers) is
  shifted to the container's ids on disk once (:func:`shift_tree`);
- **named volumes** are idmapped (sbx's own directories: their files keep the ids the
  container sees, whatever range it gets next time); **binds are not** unless the
  mount has the ``idmap`` option (``-v /src:/dst:idmap``, as podman): by default a host
  file in a bind is seen as nobody (65534) and only its "other" permission bits apply;
- **tmpfs mounts, /dev and /dev/shm** and the container's /etc/hosts, /etc/hostname and
  /etc/resolv.conf belong to the container's root.

Device nodes are still made with mknod: the mounts are done by host root, in a mount
namespace that the host's user namespace owns (the container's own, copied from it, comes
last), so rootless mode's bound nodes are not needed here."""

from __future__ import annotations

import os
import stat

from sbx.linux import syscalls as sc

MOUNT_ATTR_IDMAP = 0x00100000


def attach(source: str, target: str, userns_fd: int, *, read_only: bool = False,
           recursive: bool = False) -> None:
    """Mount an idmapped copy of ``source`` (with ``recursive``: its submounts too) on
    ``target``."""
    flags = sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | (sc.AT_RECURSIVE if recursive else 0)
    fd = sc.open_tree(source, flags)
    try:
        attr = MOUNT_ATTR_IDMAP | (sc.MOUNT_ATTR_RDONLY if read_only else 0)
        sc.mount_setattr("", attr, dfd=fd, flags=sc.AT_EMPTY_PATH, recursive=recursive,
                         userns_fd=userns_fd)
        sc.move_mount(fd, target)
    finally:
        os.close(fd)


def layers(layers_dir: str, lower: tuple[str, ...], userns_fd: int) -> None:
    """Each lower layer directory overmounted by its idmapped copy (paths relative to
    ``layers_dir``, as the overlay option names them)."""
    for p in lower:
        path = os.path.join(layers_dir, p)
        attach(path, path, userns_fd)


def shift_tree(top: str, uid_map: tuple, gid_map: tuple) -> None:
    """(copy driver) Give the copied root the container's ids on disk, once: owners
    inside the map move to its host ids (setuid/setgid bits, which chown clears, put
    back).  An idmapped mount cannot be used there: init, as host root, creates mount
    targets in the root, and host root is not in the map (EOVERFLOW)."""
    from sbx.runtime.userns_auto import host_id_of

    for dirpath, dirnames, filenames in os.walk(top):
        for name in (dirpath, *(os.path.join(dirpath, n) for n in (*dirnames, *filenames))):
            st = os.lstat(name)
            uid, gid = host_id_of(uid_map, st.st_uid), host_id_of(gid_map, st.st_gid)
            if (uid, gid) == (st.st_uid, st.st_gid):
                continue
            os.lchown(name, uid, gid)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(name, stat.S_IMODE(st.st_mode))


def own(path: str, ids: tuple[int, int]) -> None:
    """``path`` (not followed) belongs to the container's root, unless it already does."""
    st = os.lstat(path)
    if (st.st_uid, st.st_gid) != ids:
        os.lchown(path, *ids)


def own_dev(dev: str, ids: tuple[int, int]) -> None:
    """/dev (sbx's tmpfs), the nodes and links sbx made in it and /dev/shm's root."""
    own(dev, ids)
    for name in os.listdir(dev):
        path = os.path.join(dev, name)
        if name in ("pts", "mqueue"):
            continue   # their own file systems: devpts gives ptys the opener's ids
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and name != "shm":
            continue
        own(path, ids)


def tmpfs_options(options: str, ids: tuple[int, int]) -> str:
    """tmpfs options with the root directory owned by the container's root (uid=/gid= are
    host ids: the mount is made by host root), unless the user gave them."""
    keys = {o.partition("=")[0] for o in options.split(",") if o}
    extra = [f"{k}={v}" for k, v in (("uid", ids[0]), ("gid", ids[1])) if k not in keys]
    return ",".join(x for x in (options, *extra) if x)


def wanted(mount_type: str, options: str) -> bool:
    """Is this user mount idmapped: named volumes always, binds with ``idmap``."""
    if mount_type == "volume":
        return True
    return mount_type == "bind" and "idmap" in options.split(",")
