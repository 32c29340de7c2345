import { defineAppliance } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

/**
 * A tiny definition `distrobuilder pack-incus` turns into an image without any network: a rootfs
 * holding only dash and the C library, packed with zstd. In a privileged container (how
 * `--builder` runs it) the image must come out: distrobuilder, its chroot and squashfs-tools all
 * work. An unprivileged container (how `test` launches appliances) may not create device nodes,
 * so there the run must get exactly as far as populating the chroot's /dev.
 */
const PACK_CHECK = `set -eu
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
mkdir -p "$d/root/bin" "$d/root/etc" "$d/out"
for f in /bin/dash $(ldd /bin/dash | grep -o '/[^ ]*'); do mkdir -p "$d/root$(dirname "$f")"; cp -L "$f" "$d/root$f"; done
ln -s dash "$d/root/bin/sh"
printf 'image:\\n  distribution: probe\\nsource:\\n  downloader: debootstrap\\npackages:\\n  manager: apt\\n' > "$d/def.yaml"
if cd "$d" && distrobuilder --cache-dir "$d/cache" pack-incus def.yaml root out --compression zstd --disable-overlay -o packages.update=false >"$d/log" 2>&1; then
  [ -s "$d/out/rootfs.squashfs" ] && [ -s "$d/out/incus.tar.zst" ]
elif ! grep -Eq '^ +0 +0 +4294967295$' /proc/self/uid_map && grep -q 'Failed to populate /dev' "$d/log"; then
  echo 'unprivileged container: stopped at mknod in the chroot, as expected'
else
  tail -n 20 "$d/log"; exit 1
fi`;

/**
 * The builder: Debian 13 with distrobuilder 3.2 and what it calls (debootstrap, squashfs-tools,
 * rsync, xz, gpg), plus qemu-user for arm64 and amd64 chroots. `build --builder REMOTE` launches
 * it as an ephemeral privileged, nesting container per graph node (docs/scale.md, "Builders").
 * No service, no port, no settings: it is a tool image, driven through `incus exec`.
 */
/** The distrobuilder version Debian 13 ships; `--builder` keys nodes with it (lib/builder/). */
const DISTROBUILDER = '3.2';

export default defineAppliance({
  name: 'builder',
  version: DISTROBUILDER,
  description: 'distrobuilder build environment for --builder',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  packages: ['distrobuilder', 'debootstrap', 'squashfs-tools', 'rsync', 'xz-utils', 'zstd', 'tar', 'qemu-user', 'binfmt-support'],
  actions: [{
    trigger: 'post-packages',
    // qemu-user ships 460 MB of static emulators for every architecture Debian knows: keep the
    // two the registry builds for (the other's is what a foreign-architecture chroot needs).
    script: `#!/bin/sh
set -eu
find /usr/bin -maxdepth 1 -name 'qemu-*' ! -name 'qemu-aarch64' ! -name 'qemu-aarch64-static' ! -name 'qemu-x86_64' ! -name 'qemu-x86_64-static' -delete
# distrobuilder-images: the upstream definitions; the registry pushes its own.
rm -rf /usr/share/distrobuilder
`,
  }],
  // No service to wait for: healthy once the boot is over (systemd-tmpfiles-setup empties /tmp
  // during the boot, so a job started before that loses its files), and distrobuilder runs.
  health: { command: 'case "$(systemctl is-system-running)" in running|degraded) distrobuilder --version >/dev/null ;; *) exit 1 ;; esac', timeout: 60 },
  tests: [
    {
      name: `distrobuilder ${DISTROBUILDER} runs (the version --builder puts in the keys)`,
      command: `[ "$(distrobuilder --version)" = ${DISTROBUILDER} ]`,
    },
    {
      name: 'distrobuilder validates a definition',
      command: `d=$(mktemp -d) && printf 'image:\\n  distribution: debian\\n  release: trixie\\nsource:\\n  downloader: debootstrap\\n  variant: minbase\\npackages:\\n  manager: apt\\n' > "$d/def.yaml" && distrobuilder validate "$d/def.yaml"`,
    },
    {
      name: 'the tools distrobuilder calls are there (debootstrap, mksquashfs, rsync, xz, zstd)',
      command: 'debootstrap --version >/dev/null && mksquashfs -version >/dev/null && rsync --version >/dev/null && xz --version >/dev/null && zstd --version >/dev/null',
    },
    {
      name: 'qemu-user for the other architecture is there (arm64 on amd64, amd64 on arm64)',
      command: '[ -x /usr/bin/qemu-aarch64 ] && [ -x /usr/bin/qemu-x86_64 ]',
    },
    {
      name: 'distrobuilder packs an image inside the container (pack-incus of a dash-only rootfs, no network; unprivileged: up to the chroot /dev)',
      command: PACK_CHECK,
    },
  ],
});
