#!/usr/bin/env bash
# Builds brook's libFuzzer targets (fuzz/, docs/fuzzing.md) with clang under
# ASan+UBSan and runs each for SECONDS (default 60), starting from its seed
# corpus in fuzz/corpus/<target>/. Prints, per target, the executions and the
# coverage reached (libFuzzer's final cov: and ft:), and fails if any target
# crashed, leaked, hung or ran out of memory: the input is then in
# <build dir>/artifacts/ (reproduce: <build dir>/fuzz/<target>_fuzzer FILE).
#
#   scripts/fuzz.sh [SECONDS]
#
# New inputs that libFuzzer finds go to <build dir>/corpus/<target>/, never to
# the repository's corpus (copy the interesting ones there by hand; a crash's
# input goes there once fixed, as a regression test that ctest replays).
#
# Environment: BROOK_FUZZ_BUILD_DIR (default build-fuzz), BROOK_JOBS (build
# jobs, default nproc), BROOK_FUZZ_TARGETS (space-separated subset, e.g.
# "csv_records http_request"), BROOK_FUZZ_PARALLEL (targets run at once,
# default 1), BROOK_FUZZ_BUILD_ONLY=1, CC/CXX (default clang-15/clang++-15),
# BROOK_FUZZ_SEED (libFuzzer's -seed; default random: each run explores anew),
# BROOK_FUZZ_SECONDS_<target> (that target's seconds instead of SECONDS).
set -euo pipefail

SECS="${1:-60}"
[[ "${SECS}" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
BUILD_DIR="${BROOK_FUZZ_BUILD_DIR:-build-fuzz}"
JOBS="${BROOK_JOBS:-$(nproc)}"
PARALLEL="${BROOK_FUZZ_PARALLEL:-1}"
TARGETS=(${BROOK_FUZZ_TARGETS:-csv_records jsonl_records locations kafka_value checkpoint_file
                                checkpoint_load file_sink_state http_request})

export CC="${CC:-clang-15}" CXX="${CXX:-clang++-15}"
if ! command -v "${CXX}" >/dev/null; then
  echo "fuzz: ${CXX} not found (scripts/install-deps.sh --test installs clang-15 and libfuzzer-15-dev)" >&2
  exit 2
fi
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# Only what the targets link: no tests, examples or benchmarks. -O1: the
# usual trade for fuzzing under ASan (fast enough, stacks still readable).
cmake -S . -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DBROOK_FUZZ=ON \
  -DBROOK_BUILD_TESTS=OFF -DBROOK_BUILD_EXAMPLES=OFF -DBROOK_BUILD_BENCH=OFF \
  "${launcher[@]}" >/dev/null
ninja -C "${BUILD_DIR}" -j "${JOBS}" "${TARGETS[@]/%/_fuzzer}"
[[ "${BROOK_FUZZ_BUILD_ONLY:-0}" == 1 ]] && exit 0

# Sanitizer runtimes cannot map their shadow memory on kernels that randomise
# mmap with more than 28 bits: run without address randomisation if allowed.
NO_ASLR=()
if setarch "$(uname -m)" -R true 2>/dev/null; then NO_ASLR=(setarch "$(uname -m)" -R); fi

LOGS="${BUILD_DIR}/fuzz-logs"
mkdir -p "${LOGS}" "${BUILD_DIR}/artifacts"
run_target() {  # run_target NAME: fuzzes for SECS, log in LOGS/NAME.log
  local t=$1
  mkdir -p "${BUILD_DIR}/corpus/${t}"
  # -timeout: one input taking 30 s is a hang (generous: shared, loaded
  # machines starve a process for seconds); -rss_limit_mb: a parser that
  # believes a length field and allocates gigabytes is a finding too.
  local seed=()
  if [[ -n "${BROOK_FUZZ_SEED:-}" ]]; then seed=(-seed="${BROOK_FUZZ_SEED}"); fi
  local secs_var="BROOK_FUZZ_SECONDS_${t}"
  local secs="${!secs_var:-${SECS}}"
  "${NO_ASLR[@]}" "${BUILD_DIR}/fuzz/${t}_fuzzer" "${seed[@]}" -max_total_time="${secs}" -timeout=30 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -close_fd_mask=1 \
    -artifact_prefix="${BUILD_DIR}/artifacts/${t}-" \
    "${BUILD_DIR}/corpus/${t}" "fuzz/corpus/${t}" >"${LOGS}/${t}.log" 2>&1
}

echo "fuzz: ${#TARGETS[@]} targets, ${SECS} s each, ${PARALLEL} at a time; logs in ${LOGS}/"
declare -A RC=()
pending=("${TARGETS[@]}")
declare -A PID_OF=()
while ((${#pending[@]} > 0)) || ((${#PID_OF[@]} > 0)); do
  while ((${#pending[@]} > 0)) && ((${#PID_OF[@]} < PARALLEL)); do
    t=${pending[0]}
    pending=("${pending[@]:1}")
    run_target "${t}" &
    PID_OF[${t}]=$!
  done
  for t in "${!PID_OF[@]}"; do
    if ! kill -0 "${PID_OF[${t}]}" 2>/dev/null; then
      rc=0
      wait "${PID_OF[${t}]}" || rc=$?
      RC[${t}]=${rc}
      unset "PID_OF[${t}]"
    fi
  done
  sleep 1
done

failed=0
printf '%-18s %12s %8s %8s %s\n' target executions cov ft result
for t in "${TARGETS[@]}"; do
  log="${LOGS}/${t}.log"
  execs=$(awk '/stat::number_of_executed_units/ { print $NF }' "${log}" | tail -1)
  # The last status line ("#N DONE cov: C ft: F ..." or the last pulse).
  cov=$(grep -oE 'cov: [0-9]+' "${log}" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "${log}" | tail -1 | cut -d' ' -f2)
  result=ok
  if ((RC[${t}] != 0)); then
    result="FAILED (exit ${RC[${t}]}; $(grep -m1 -oE 'ERROR: [A-Za-z]+: [^ ]+( [^ ]+)?|libFuzzer: [a-z -]+' "${log}" || echo "see ${log}"))"
    failed=1
  fi
  printf '%-18s %12s %8s %8s %s\n' "${t}" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${result}"
done
if ((failed)); then
  echo "fuzz: FAILED; inputs in ${BUILD_DIR}/artifacts/, logs in ${LOGS}/" >&2
  exit 1
fi
echo "fuzz: no crash"
