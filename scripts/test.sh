#!/usr/bin/env bash
# Builds brook and runs its whole test suite (the README's test command).
#
# Installs missing dependencies (scripts/install-deps.sh --test: the build set
# and the test set), configures a Ninja build with ccache, builds every target
# (benchmarks included, so they at least compile) and runs ctest. Exits
# non-zero if anything fails.
#
# Environment (all optional):
#   BROOK_SANITIZE=address,undefined | thread
#                         sanitized Debug build (asserts on; -O0 for ASan, -O1
#                         for TSan, or BROOK_SAN_OPT) in build-asan/ or
#                         build-tsan/ instead of a Release build in build/
#   BROOK_BUILD_DIR=dir   build directory (overrides the default above)
#   BROOK_BUILD_TYPE=...  CMAKE_BUILD_TYPE (default Release, or Debug when
#                         sanitizing)
#   BROOK_BUILD_BENCH=ON|OFF  build the benchmarks (default ON; OFF when
#                         sanitizing)
#   BROOK_TEST_FILTER=re  run only the tests whose name matches (ctest -R)
#   BROOK_CTEST_ARGS=...  extra ctest arguments, e.g. "-LE integration"
#   BROOK_JOBS=n          build and test parallelism (default: nproc)
#   BROOK_SKIP_DEPS=1     do not run install-deps.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

if [[ "${BROOK_SKIP_DEPS:-0}" != 1 ]]; then
  bash "${ROOT}/scripts/install-deps.sh" --test
fi

SANITIZE="${BROOK_SANITIZE:-}"
case "${SANITIZE}" in
  "") default_dir=build; default_type=Release; default_bench=ON ;;
  thread) default_dir=build-tsan; default_type=Debug; default_bench=OFF ;;
  *) default_dir=build-asan; default_type=Debug; default_bench=OFF ;;
esac
BUILD_DIR="${BROOK_BUILD_DIR:-${default_dir}}"
BUILD_TYPE="${BROOK_BUILD_TYPE:-${default_type}}"
BENCH="${BROOK_BUILD_BENCH:-${default_bench}}"
JOBS="${BROOK_JOBS:-$(nproc)}"

if [[ "${BENCH}" == ON && ! -f "${ROOT}/bench/CMakeLists.txt" ]]; then
  echo "test.sh: bench/CMakeLists.txt does not exist yet; building without benchmarks"
  BENCH=OFF
fi

cmake_args=(
  -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE}"
  -DBROOK_BUILD_BENCH="${BENCH}"
  -DBROOK_BUILD_TESTS=ON
  -DBROOK_SANITIZE="${SANITIZE}"
)
if [[ -n "${SANITIZE}" ]]; then
  # ASan+UBSan at -O0 compiles 2.4x faster than at -O1 (template-heavy code)
  # and the tests stay quick; TSan at -O1, as its runtime cost per memory
  # access is higher. Override with BROOK_SAN_OPT.
  if [[ "${SANITIZE}" == thread ]]; then san_opt="${BROOK_SAN_OPT:--O1}"; else san_opt="${BROOK_SAN_OPT:--O0}"; fi
  cmake_args+=(-DCMAKE_CXX_FLAGS_DEBUG="${san_opt} -g" -DCMAKE_C_FLAGS_DEBUG="${san_opt} -g")
fi
if command -v ccache >/dev/null 2>&1; then
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

echo "==> configure ${BUILD_DIR} (${BUILD_TYPE}, sanitize='${SANITIZE}', bench=${BENCH})"
cmake "${cmake_args[@]}"

echo "==> build (${JOBS} jobs)"
cmake --build "${BUILD_DIR}" -j "${JOBS}"

ctest_args=(--test-dir "${BUILD_DIR}" --output-on-failure --no-tests=error -j "${JOBS}"
            --timeout 600)
if [[ -n "${BROOK_TEST_FILTER:-}" ]]; then
  ctest_args+=(-R "${BROOK_TEST_FILTER}")
fi
if [[ -n "${BROOK_CTEST_ARGS:-}" ]]; then
  read -r -a extra <<<"${BROOK_CTEST_ARGS}"
  ctest_args+=("${extra[@]}")
fi

echo "==> ctest ${ctest_args[*]}"
ctest "${ctest_args[@]}"
