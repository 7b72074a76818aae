#!/bin/sh
# Unpacks Debian's qemu-user-static and an aarch64 glibc into the build cache
# folder, so that `deno task smoke` (and `deno task build` for compiled arm64
# layers) can run arm64 binaries on an x86_64 machine. Nothing is installed
# system-wide and binfmt_misc is not touched. Idempotent; needs apt-get and
# dpkg (Debian/Ubuntu) and root for `apt-get update`.
#
# Folder: $BUILD_CACHE_DIR, else $XDG_CACHE_HOME/kinesis-telemetry-build,
# else ~/.cache/kinesis-telemetry-build; qemu lands in <folder>/qemu.
set -eu

cache_dir=${BUILD_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kinesis-telemetry-build}
target=$cache_dir/qemu
qemu=$target/usr/bin/qemu-aarch64-static
loader=$target/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1

if [ -x "$qemu" ] && [ -e "$loader" ]; then
  echo "qemu: ready in $target"
  exit 0
fi

if [ "$(uname -m)" != "x86_64" ]; then
  echo "qemu: this script sets up arm64 emulation on x86_64 hosts only" >&2
  exit 1
fi

download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
# apt-get download runs as the _apt user where it can; a folder it can write.
chmod 0777 "$download"
cd "$download"
if ! apt-get download qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross
fi
staging=$cache_dir/.qemu-staging
rm -rf "$staging"
mkdir -p "$staging"
for package in ./*.deb; do
  dpkg -x "$package" "$staging"
done
# The package holds an emulator for every architecture: keep the one needed.
for binary in "$staging"/usr/bin/*; do
  [ "${binary##*/}" = qemu-aarch64-static ] || rm -f "$binary"
done
rm -rf "$staging/usr/share" "$staging/usr/libexec" "$staging/usr/lib/binfmt.d"
rm -rf "$target"
mv "$staging" "$target"
"$qemu" --version | head -n 1
echo "qemu: ready in $target"
