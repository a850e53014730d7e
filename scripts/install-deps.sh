#!/usr/bin/env bash
# Installs the Debian packages FlowTrace builds and tests with. Idempotent and quick when
# everything is present (dpkg is asked first; apt runs only for what is missing).
#   scripts/install-deps.sh            build and test dependencies
#   scripts/install-deps.sh --vm       also what the kernel-module VM tests need
#   scripts/install-deps.sh --ynl-dir  print the folder of the kernel parts (below), unpacking them if needed
#   scripts/install-deps.sh --specs    also unpack the kernel's YNL specs (Documentation/netlink/specs),
#                                      which the YNL interpreter loads by default (flowtrace specs)
#
# The kernel's own YNL tooling (tools/net/ynl: cli.py and its Python library) and schemas
# (Documentation/netlink/*.yaml), which check that spec/*.yaml are real YNL (Tests/e2e/ynl-spec.sh),
# come from Debian's linux-source-6.12 package: only those folders are unpacked, once, into
# $FLOWTRACE_LINUX_SRC (default ${XDG_CACHE_HOME:-~/.cache}/flowtrace/linux-6.12). So is netdevsim's
# source (drivers/net/netdevsim, with the top Makefile that names the tree's version): Debian's
# kernels do not ship the module, and scripts/vm/run.sh builds it for the VM tests of that version.
set -euo pipefail

linux_tarball=/usr/src/linux-source-6.12.tar.xz
linux_dir="${FLOWTRACE_LINUX_SRC:-${XDG_CACHE_HOME:-$HOME/.cache}/flowtrace/linux-6.12}"
# What is unpacked below linux-source-6.12/ (the kernel's specs only with --specs: they are
# unpacked apart, with their own stamp, so a run without --specs keeps them).
linux_parts=(tools/net/ynl Documentation/netlink drivers/net/netdevsim Makefile)
linux_excludes=(--exclude=linux-source-6.12/Documentation/netlink/specs)
linux_specs=Documentation/netlink/specs

# Unpacks linux_parts from the tarball into linux_dir unless a stamp says they are there
# (the stamp names the tarball and the parts, so a new package or part list unpacks again).
unpack_linux_parts() {
  local stamp="$linux_dir/.unpacked" want
  [[ -r "$linux_tarball" ]] || { echo "install-deps: $linux_tarball is missing (package linux-source-6.12)" >&2; return 1; }
  want="$(stat -c '%s %Y' "$linux_tarball") ${linux_parts[*]} ${linux_excludes[*]}"
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && return 0
  rm -rf "$linux_dir"
  mkdir -p "$linux_dir"
  tar -xJf "$linux_tarball" -C "$linux_dir" --strip-components=1 "${linux_excludes[@]}" \
    "${linux_parts[@]/#/linux-source-6.12/}"
  echo "$want" >"$stamp"
}

# The kernel's specs into $linux_dir/Documentation/netlink/specs, once per tarball (unpack_linux_parts
# empties linux_dir when it unpacks again, stamp included).
unpack_linux_specs() {
  local stamp="$linux_dir/.unpacked-specs" want
  want="$(stat -c '%s %Y' "$linux_tarball") $linux_specs"
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && return 0
  rm -rf "${linux_dir:?}/$linux_specs"
  tar -xJf "$linux_tarball" -C "$linux_dir" --strip-components=1 "linux-source-6.12/$linux_specs"
  echo "$want" >"$stamp"
}

specs=0
mode=""
for arg in "$@"; do
  case "$arg" in
    --specs) specs=1 ;;
    --vm|--ynl-dir) mode="$arg" ;;
    *) echo "install-deps: unknown option $arg (--vm, --specs, --ynl-dir)" >&2; exit 2 ;;
  esac
done

if [[ "$mode" == "--ynl-dir" ]]; then
  unpack_linux_parts
  ((specs)) && unpack_linux_specs
  echo "$linux_dir"
  exit 0
fi

pkgs=(pkg-config libpcap-dev zlib1g-dev libnl-3-dev libnl-genl-3-dev tshark
  linux-source-6.12 python3-jsonschema python3-yaml)
if [[ "$mode" == "--vm" ]]; then
  # Two kernels, each image with its headers (the VM tests run on both): the default one of
  # Debian 12 (6.1) and 6.12, Debian 13's default, which bookworm carries too. Both by their
  # metapackages (linux-image-6.12-amd64 depends on the newest linux-image-6.12.*+deb12-amd64),
  # so the names follow the archive's point releases instead of going stale. dkms: the DKMS build
  # of kmod/dkms.conf for both (scripts/vm/dkms-check.sh). ethtool: families.sh drives its family.
  pkgs+=(qemu-system-x86 linux-image-amd64 linux-headers-amd64
    linux-image-6.12-amd64 linux-headers-6.12-amd64 busybox-static kmod dkms ethtool)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
unpack_linux_parts
((specs)) && unpack_linux_specs
command -v swift >/dev/null || { echo "install-deps: swift is not on PATH (Swift 6.1 or newer is needed)" >&2; exit 1; }
