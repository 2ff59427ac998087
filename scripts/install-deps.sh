#!/usr/bin/env bash
# Installs what brook needs to build, test and benchmark on Debian 12, and
# nothing that is already there: a machine that has every package never
# touches the network. Idempotent; runs as root or through sudo; never asks.
set -euo pipefail

PACKAGES=(
  build-essential g++ cmake ninja-build ccache pkg-config time
  libboost-dev libabsl-dev capnproto libcapnp-dev zlib1g-dev libfmt-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libsimdjson-dev libcsv-dev
  prometheus chromium
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)"
  if [[ "${status}" != "install ok installed" ]]; then
    missing+=("${pkg}")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)  # -n: fail instead of prompting when there is no terminal.
  [[ -t 0 ]] && SUDO=(sudo)
else
  echo "install-deps: missing ${missing[*]}, and not root and no sudo to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Acquire::Retries=3)
"${apt[@]}" update
"${apt[@]}" install -y --no-install-recommends "${missing[@]}"
