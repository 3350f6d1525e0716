#!/usr/bin/env bash
# Install the stock-6.12 lab kernel (image + headers) from bookworm-backports.
# Only that suite is added: a newer release in the sources would pull its
# libc and toolchain into the machine. The ABI (6.12.NN+debNN) is read from
# the backports metapackage, never pinned here.
set -euo pipefail

src=/etc/apt/sources.list.d/nflab-backports.sources
if ! apt-cache policy 2>/dev/null | grep -q 'bookworm-backports/main'; then
	echo "deps: adding the bookworm-backports suite" >&2
	uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	cat >"$src" <<EOT
Types: deb
URIs: ${uri:-http://deb.debian.org/debian}
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
	apt-get update -qq
fi

bpo=$(apt-cache madison linux-image-amd64 | awk -F'|' '/bookworm-backports/ {gsub(/ /, "", $2); print $2; exit}')
[ -n "$bpo" ] || { echo "deps: no linux-image-amd64 in bookworm-backports" >&2; exit 1; }
abi=$(apt-cache show "linux-image-amd64=$bpo" | sed -n 's/^Depends: linux-image-\([^ ]*\)-amd64 .*/\1/p' | head -n1)
[ -n "$abi" ] || { echo "deps: cannot read the 6.12 ABI from linux-image-amd64=$bpo" >&2; exit 1; }

pkgs="linux-image-$abi-amd64 linux-headers-$abi-amd64"
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"; done)
if [ -n "$missing" ]; then
	echo "deps: installing $missing" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-t bookworm-backports $missing >/dev/null
fi
