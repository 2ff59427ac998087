#!/usr/bin/env bash
# Installs what brook needs on Debian 12, and nothing that is already there: a
# machine that has every package never touches the network. Idempotent; runs
# as root or through sudo; never asks.
#
#   scripts/install-deps.sh          # build set: build brook and run the example job
#                                    # (scripts/run-example.sh)
#   scripts/install-deps.sh --test   # build set + test set (+ clang and libFuzzer): run the
#                                    # test suite, the benchmarks and the fuzz targets
#                                    # (scripts/test.sh, scripts/fuzz.sh, .ci/run)
set -euo pipefail

# Compilers, build tools and the libraries brook's targets link.
# librdkafka-dev and kcat: for the Kafka connector (brook::kafka, next on the
# tracker) and its command-line client. libpq-dev: the PostgreSQL sink
# (brook::postgres) links libpq. libssl-dev: TLS for brook::web's HTTP server.
BUILD_PACKAGES=(
  build-essential g++ cmake ninja-build ccache pkg-config
  libboost-dev libabsl-dev capnproto libcapnp-dev zlib1g-dev libfmt-dev
  libsimdjson-dev libcsv-dev
  librdkafka-dev kcat
  libpq-dev
  libssl-dev
)
# GoogleTest, Google Benchmark, and the tools the tests drive: Prometheus
# (promtool and a real scrape), headless Chromium (the dashboard page), and
# ClickHouse 18.16 and PostgreSQL 15 (the results stores' tests start their
# servers on loopback; brook::clickhouse itself needs only Boost, and
# brook::postgres libpq, in the build set); the openssl CLI makes the TLS
# tests' certificates; gdb prints the threads of a crash-test run that
# stalled.
TEST_PACKAGES=(
  libgtest-dev libgmock-dev googletest libbenchmark-dev time
  prometheus chromium
  clickhouse-server clickhouse-client postgresql-15
  openssl gdb
)
# The fuzz targets (fuzz/, scripts/fuzz.sh, CI's fuzz phase) are built with
# clang and libFuzzer; everything else keeps g++. Part of the test set.
FUZZ_PACKAGES=(clang-15 libfuzzer-15-dev)

usage() { echo "usage: $0 [--test]" >&2; }

PACKAGES=("${BUILD_PACKAGES[@]}")
set_name=build
for arg in "$@"; do
  case "${arg}" in
    --test) PACKAGES+=("${TEST_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"); set_name="build+test" ;;
    -h | --help) usage; exit 0 ;;
    *) usage; exit 2 ;;
  esac
done

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)"
  if [[ "${status}" != "install ok installed" ]]; then
    missing+=("${pkg}")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages of the ${set_name} set present"
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
