#!/usr/bin/env bash
# Builds the cgroup v2 VM image into $1 (scripts/vm-test.sh calls it, with the cache key
# computed from this file, scripts/vm/initramfs-init and the package pins): Debian's own
# kernel from its .deb, a root made with mmdebstrap as an ext4 disk image, and a busybox
# initramfs that loads the virtio/ext4/9p modules and mounts it.
#   scripts/vm/build.sh DEST PIN...      # PIN: the Python test deps, e.g. pytest==9.2.0
set -euo pipefail
cd "$(dirname "$0")/../.."
IMG=$1; shift
pins=("$@")
SUITE=bookworm
MIRROR=${SBX_VM_MIRROR:-http://deb.debian.org/debian}
# The VM's packages: what the tests need at run time (the VM has no network then).
PACKAGES=(python3 python3-venv passwd busybox-static uidmap fuse-overlayfs slirp4netns tini
          iproute2 kmod procps libseccomp2 gcc libc6-dev ca-certificates)
die() { echo "vm build: $*" >&2; exit 2; }

CACHE=$(dirname "$IMG")
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
chmod 0755 "$work"     # apt-get download runs as _apt
trap '[ "${SBX_VM_KEEP:-}" = 1 ] || rm -rf "$work"' EXIT   # SBX_VM_KEEP=1 keeps a failed build
echo "==> vm build: $IMG (once per recipe; a few minutes)"
t0=$SECONDS
kver=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ && !k {k = $2} END {print k}')
[ -n "$kver" ] || die "cannot tell which kernel linux-image-amd64 depends on (apt-get update?)"
(cd "$work" && apt-get download -q "$kver" >/dev/null) || die "apt-get download $kver failed"
deb=$(ls "$work"/linux-image-*.deb)
kver=${kver#linux-image-}
tree=$work/tree
pkgs=$(IFS=,; echo "${PACKAGES[*]}")
mmdebstrap --quiet --mode=root --variant=essential --include="$pkgs" \
  "$SUITE" "$tree" "$MIRROR" || die "mmdebstrap failed"
# the Python test deps: wheels fetched by the host's pip (its index, proxy and CA
# settings), installed offline into a venv inside the image
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
"$py" -m pip download -q --disable-pip-version-check --only-binary=:all: -d "$tree/tmp/wheels" \
  "${pins[@]}" || die "pip download of the test deps failed"
in_tree() { chroot "$tree" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
in_tree python3 -m venv /opt/sbx-venv
in_tree /opt/sbx-venv/bin/pip install -q --disable-pip-version-check --no-index \
  --find-links /tmp/wheels "${pins[@]}" || die "pip install in the image failed"
rm -rf "$tree/tmp/wheels"
in_tree useradd --create-home --uid 1000 --shell /bin/bash sbxvm
in_tree usermod --add-subuids 100000-165535 --add-subgids 100000-165535 sbxvm
rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/*
# the kernel and its modules (only those a VM can use: no sound, gpu, media, usb...)
dpkg-deb -x "$deb" "$work/kernel"     # not into the tree: its /lib is a usrmerge link
mkdir -p "$tree/usr/lib/modules"
mv "$work/kernel/lib/modules/$kver" "$tree/usr/lib/modules/"
mv "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
mods=$tree/usr/lib/modules/$kver/kernel
find "$mods/drivers" -mindepth 1 -maxdepth 1 \
     ! -name virtio ! -name block ! -name char ! -name net -exec rm -rf {} +
rm -rf "$mods/sound" "$mods/drivers/net/wireless" "$mods/drivers/net/ethernet"
in_tree depmod "$kver"        # the image's kmod (the host needs none)
# the test package: sources from the shared checkout (/src), plus its entry points
site=$(echo "$tree"/opt/sbx-venv/lib/python3*/site-packages)
printf '/src/engine\n/src\n' >"$site/sbx-src.pth"
mkdir -p "$site/pytest_sandbox-0.1.0.dist-info"
printf 'Metadata-Version: 2.1\nName: pytest-sandbox\nVersion: 0.1.0\n' \
  >"$site/pytest_sandbox-0.1.0.dist-info/METADATA"
printf '[console_scripts]\nsbx = sbx.cli.main:run\n\n[pytest11]\nsandbox = pytest_sandbox.plugin\n' \
  >"$site/pytest_sandbox-0.1.0.dist-info/entry_points.txt"
printf '#!/opt/sbx-venv/bin/python\nimport sys\nfrom sbx.cli.main import run\nsys.exit(run())\n' \
  >"$tree/opt/sbx-venv/bin/sbx"
chmod 0755 "$tree/opt/sbx-venv/bin/sbx"
mkdir -p "$tree/src" "$tree/vm-out"
echo sbx-vm >"$tree/etc/hostname"
# initramfs: busybox, the modules for the disk, ext4 and 9p, and an init that mounts root
ird=$work/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,newroot}
cp /bin/busybox "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
cp scripts/vm/initramfs-init "$ird/init"
chmod 0755 "$ird/init"
: >"$ird/modules"
while read -r line; do
  ko=${line#insmod }; ko=${ko%% *}
  case $line in insmod*) ;; *) continue ;; esac
  mkdir -p "$ird$(dirname "$ko")"
  cp "$tree$ko" "$ird$ko"
  grep -qxF "$ko" "$ird/modules" || echo "$ko" >>"$ird/modules"
done < <(for m in virtio_pci virtio_blk ext4 9pnet_virtio 9p; do
           in_tree modprobe -S "$kver" --show-depends "$m"; done)
(cd "$ird" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz"
# the root disk: the tree as ext4 (the VM opens it with snapshot=on: every run is fresh)
truncate -s 6G "$work/root.img"
mkfs.ext4 -q -F -L sbxroot -d "$tree" "$work/root.img" || die "mkfs.ext4 -d failed"
rm -rf "$tree"
mkdir -p "$IMG.new"
mv "$work/vmlinuz" "$work/initrd.gz" "$work/root.img" "$IMG.new/"
echo "$kver" >"$IMG.new/kernel"
echo "built in $((SECONDS - t0)) s on $(date -u +%FT%TZ)" >"$IMG.new/built"
rm -rf "$IMG"
mv "$IMG.new" "$IMG"
rm -rf "$work"
trap - EXIT
echo "==> vm build: $(cat "$IMG/built")"
# older recipes' images are dropped (one image per machine)
find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$(basename "$IMG")" ! -name 'build.*' -exec rm -rf {} +
