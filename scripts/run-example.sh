#!/usr/bin/env bash
# Builds the example job (camera_top_k: top X items per location from camera
# detections) in Release and runs it on the bundled sample data (the README's
# run command). Installs what building and running it needs first
# (scripts/install-deps.sh: the build set only; no browser, no Prometheus).
#
#   ./scripts/run-example.sh                   # bundled data, top 10
#   ./scripts/run-example.sh --top_x=3         # any camera_top_k flag; later flags win
#   ./scripts/run-example.sh \
#     --detections=../shared/data/utopia/camera_detection_events.csv \
#     --locations=../shared/data/utopia/geographical_locations.csv --timestamp_unit=s
#
# Environment: BROOK_BUILD_DIR (default build), BROOK_SKIP_DEPS=1, BROOK_EXAMPLE_DATA
# (a directory with detections.csv and locations.csv instead of the bundled one),
# BROOK_EXAMPLE_OUT (output directory, default <build dir>/camera_top_k_out).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

if [[ "${BROOK_SKIP_DEPS:-0}" != 1 ]]; then
  bash "${ROOT}/scripts/install-deps.sh"
fi

BUILD_DIR="${BROOK_BUILD_DIR:-build}"
DATA_DIR="${BROOK_EXAMPLE_DATA:-${ROOT}/examples/camera_top_k/data}"
OUT_DIR="${BROOK_EXAMPLE_OUT:-${BUILD_DIR}/camera_top_k_out}"
OUTPUT="${OUT_DIR}/top_items.csv"
DEAD_LETTERS="${OUT_DIR}/dead_letters.csv"

# The compiler flags of scripts/test.sh, so the two share one build directory;
# without the tests and benchmarks, whose packages only the test set installs
# (scripts/test.sh turns them back on).
cmake_args=(-S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release
            -DBROOK_BUILD_TESTS=OFF -DBROOK_BUILD_BENCH=OFF -DBROOK_SANITIZE=
            -DBROOK_BUILD_EXAMPLES=ON)
if command -v ccache >/dev/null 2>&1; then
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
echo "==> configure ${BUILD_DIR} (Release)"
cmake "${cmake_args[@]}" >/dev/null
echo "==> build camera_top_k"
cmake --build "${BUILD_DIR}" --target camera_top_k -j "${BROOK_JOBS:-$(nproc)}"

BIN="$(find "${BUILD_DIR}/examples" -type f -name camera_top_k -perm -u+x | head -n1)"
if [[ -z "${BIN}" ]]; then
  echo "run-example: no camera_top_k binary under ${BUILD_DIR}/examples" >&2
  exit 1
fi
# Flags given on the command line win (absl: the last one counts); note the
# ones this script reports on or checks.
own_detections=0 own_locations=0
for arg in "$@"; do
  case "${arg}" in
    --output=*) OUTPUT="${arg#--output=}" ;;
    --dead_letter=*) DEAD_LETTERS="${arg#--dead_letter=}" ;;
    --detections=* | --generate | --generate=true) own_detections=1 ;;
    --locations=*) own_locations=1 ;;
  esac
done
if ((!own_detections)) && [[ ! -f "${DATA_DIR}/detections.csv" ]]; then
  echo "run-example: missing sample data ${DATA_DIR}/detections.csv" >&2
  exit 1
fi
if ((!own_locations)) && [[ ! -f "${DATA_DIR}/locations.csv" ]]; then
  echo "run-example: missing sample data ${DATA_DIR}/locations.csv" >&2
  exit 1
fi

mkdir -p "${OUT_DIR}"
cmd=("${BIN}" --detections="${DATA_DIR}/detections.csv" --locations="${DATA_DIR}/locations.csv"
     --top_x=10 --output="${OUTPUT}" --dead_letter="${DEAD_LETTERS}" "$@")
echo "==> ${cmd[*]}"
"${cmd[@]}"

echo
if [[ "${OUTPUT}" == - ]]; then
  echo "Result written to standard output."
else
  echo "Result (first lines):"
  head -n 12 "${OUTPUT}" || true
  echo
  echo "Result written to:    $(realpath -m "${OUTPUT}")"
fi
if [[ -n "${DEAD_LETTERS}" && -f "${DEAD_LETTERS}" ]]; then
  echo "Dead letters written: $(realpath -m "${DEAD_LETTERS}")"
fi
