#!/usr/bin/env bash
# Installs the Debian packages FlowTrace builds and tests with. Idempotent and quick when
# everything is present (dpkg is asked first; apt runs only for what is missing).
#   scripts/install-deps.sh            build and test dependencies
#   scripts/install-deps.sh --vm       also what the kernel-module VM tests need
set -euo pipefail

pkgs=(pkg-config libpcap-dev zlib1g-dev libnl-3-dev libnl-genl-3-dev tshark)
if [[ "${1:-}" == "--vm" ]]; then
  # Two kernels, each image with its headers (the VM tests run on both): the default one of
  # Debian 12 (6.1) and 6.12, Debian 13's default, which bookworm carries too. Both by their
  # metapackages (linux-image-6.12-amd64 depends on the newest linux-image-6.12.*+deb12-amd64),
  # so the names follow the archive's point releases instead of going stale. dkms: the DKMS build
  # of kmod/dkms.conf for both (scripts/vm/dkms-check.sh).
  pkgs+=(qemu-system-x86 linux-image-amd64 linux-headers-amd64
    linux-image-6.12-amd64 linux-headers-6.12-amd64 busybox-static kmod dkms)
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
command -v swift >/dev/null || { echo "install-deps: swift is not on PATH (Swift 6.1 or newer is needed)" >&2; exit 1; }
