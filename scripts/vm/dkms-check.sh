#!/usr/bin/env bash
# Builds kmod/ the way a user's DKMS does (kmod/dkms.conf, `dkms add` + `dkms build`), for each
# kernel given by version ("6.1", "6.12" or whole), on the host: no VM, nothing installed. The
# DKMS tree, the source tree and the signing key DKMS makes for itself are in a temporary
# folder, so the system's /var/lib/dkms and /usr/src stay untouched. A build warning fails.
#   scripts/vm/dkms-check.sh 6.1 6.12        prints "dkms: <ver> ok" per kernel; exit 0 if all are
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v dkms >/dev/null || { echo "dkms: not installed (scripts/install-deps.sh --vm)" >&2; exit 2; }
(($#)) || set -- "$(uname -r)"

name=$(sed -nE 's/^PACKAGE_NAME="?([^"]*)"?$/\1/p' "$root/kmod/dkms.conf")
version=$(sed -nE 's/^PACKAGE_VERSION="?([^"]*)"?$/\1/p' "$root/kmod/dkms.conf")
tmp=$(mktemp -d /tmp/unft-dkms.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src/$name-$version
mkdir -p "$src" "$tmp/tree"
cp "$root"/kmod/{dkms.conf,Kbuild,Makefile,*.c,*.h} "$src/"
cp -r "$root/kmod/include" "$src/"
trees=(--sourcetree "$tmp/src" --dkmstree "$tmp/tree")
dkms add -m "$name" -v "$version" "${trees[@]}" >"$tmp/add.log" 2>&1 || { cat "$tmp/add.log"; exit 1; }

failed=0
for want in "$@"; do
	# The same choice as run.sh: "6.1" is 6.1.x, not 6.12.x; headers must be installed.
	ver=$(ls -d /lib/modules/*/build 2>/dev/null | sed -E 's|/lib/modules/([^/]*)/build|\1|' | sort -rV |
		awk -v w="$want" '$0 == w || index($0, w ".") == 1 || index($0, w "-") == 1 { print; exit }')
	if [[ -z $ver ]]; then
		echo "dkms: $want FAILED: no headers (/lib/modules/$want*/build)"; failed=1; continue
	fi
	t0=$(date +%s)
	if ! mok_signing_key=$tmp/mok.key mok_certificate=$tmp/mok.pub \
		dkms build -m "$name" -v "$version" -k "$ver" "${trees[@]}" >"$tmp/build-$ver.log" 2>&1; then
		echo "dkms: $ver FAILED"; sed 's/^/    /' "$tmp/build-$ver.log"
		grep -E -B2 -A3 "error|warning:" "$tmp/tree/$name/$version/build/make.log" 2>/dev/null | sed 's/^/    /'
		failed=1; continue
	fi
	log=$(ls "$tmp/tree/$name/$version/$ver"/*/log/make.log)
	ko=$(ls "$tmp/tree/$name/$version/$ver"/*/module/"$name".ko* 2>/dev/null | head -1)
	if grep -E "warning:|error:" "$log" | sed 's/^/    /' | grep .; then
		echo "dkms: $ver FAILED: the build gave warnings"; failed=1
	elif [[ -z $ko ]]; then
		echo "dkms: $ver FAILED: no $name.ko"; failed=1
	else
		echo "dkms: $ver ok ($(($(date +%s) - t0)) s, $(modinfo -F vermagic "$ko" | cut -d' ' -f1))"
	fi
done
exit $failed
