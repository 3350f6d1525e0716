#!/usr/bin/env bash
# Build the debug-6.1 lab kernel from Debian's linux-source-6.1 with
# debug-6.1.config on top of allnoconfig, or reuse the cached build.
# Prints the build's directory; it holds build/ (a tree external modules build
# against), build/arch/x86/boot/bzImage, build/vmlinux and
# mods/lib/modules/<release>/.
#
# The cache key is the source package version, the hash of the config
# fragment and the recipe number below: bump it when a change to this script
# changes what it builds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${NFLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nflab}
frag=$here/debug-6.1.config
recipe=1

tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || { echo "build-debug: $tarball missing (make deps)" >&2; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$({ cat "$frag"; echo "recipe=$recipe"; } | sha256sum | cut -c1-12)
out=$cache/kernels/debug-6.1-$srcver-$key

if [ "${1:-}" = --path ]; then
	echo "$out"
	exit 0
fi

log() { echo "build-debug: $*" >&2; }

# The build tree's Makefile includes the source tree's: modules built
# against a cached build need the source too, unpacked again if only the
# build was kept (as CI's cache does).
src=$cache/src/linux-source-6.1-$srcver
if [ ! -f "$src/.unpacked" ]; then
	log "unpacking $tarball"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xJf "$tarball" -C "$src.tmp"
	mv "$src.tmp/linux-source-6.1" "$src"
	rmdir "$src.tmp"
	touch "$src/.unpacked"
fi

if [ -f "$out/.done" ]; then
	echo "$out"
	exit 0
fi

start=$(date +%s)
log "building debug-6.1 into $out (cold build, tens of minutes on 2 cores)"
rm -rf "$out"
mkdir -p "$out/build"
kmake() { make -s -C "$src" O="$out/build" "$@"; }

kmake allnoconfig >&2
"$src/scripts/kconfig/merge_config.sh" -m -O "$out/build" \
	"$out/build/.config" "$frag" >/dev/null
kmake olddefconfig >&2

# merge_config only warns when Kconfig drops a requested value; fail instead.
missing=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=n) opt=${line%%=*}
		grep -q "^$opt=" "$out/build/.config" && { log "$opt is set but the fragment wants it off"; missing=1; } ;;
	CONFIG_*=*) grep -qx "$line" "$out/build/.config" || { log "not applied: $line"; missing=1; } ;;
	esac
done <"$frag"
[ "$missing" = 0 ] || exit 1

kmake -j"$(nproc)" bzImage modules >&2
kmake INSTALL_MOD_PATH="$out/mods" modules_install >&2
# The tree external modules are built against.
kmake modules_prepare >&2

log "built in $(($(date +%s) - start)) s"
touch "$out/.done"
echo "$out"
