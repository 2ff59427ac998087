#!/usr/bin/env bash
# Exactly-once crash test of the camera job (issue #5, DESIGN.md §7).
#
# Generates an input (camera_generate, plus malformed lines and an unknown
# location so that the dead-letter file has every kind of row), runs
# camera_top_k once without checkpointing (the reference), then runs the same
# command with --checkpoint_dir and a short --checkpoint_interval, SIGKILLs it
# at random instants, restarts it with the same command each time until it
# exits 0, and compares the final output and dead-letter files with the
# reference, byte for byte. At parallelism 1 and 2, and restarting alternately at 1 and 2.
#
# By hand (from the repository root, after building):
#   tests/crash/camera_crash_test.sh build/examples/camera_top_k build/examples/camera_generate
# or: ctest --test-dir build -L crash --output-on-failure
#
# Environment (all optional):
#   CRASH_TEST_EVENTS=N        input size (default 10000000: about 5 s per run)
#   CRASH_TEST_KILLS=N         SIGKILLs per parallelism (default 12, at least 10)
#   CRASH_TEST_PARALLELISM="1 2 1:2"  one pass per entry; "A:B" restarts
#                              alternately at parallelism A and B (every
#                              restore changes parallelism: state is
#                              redistributed by key group each time)
#   CRASH_TEST_INTERVAL=100ms  --checkpoint_interval
#   CRASH_TEST_SEED=N          seed of the kill instants (printed; reuse to repeat a run)
#   CRASH_TEST_DEDUP_RETENTION=10s  --dedup_retention (0: every id kept)
#   CRASH_TEST_KILL_MIN_MS=200, CRASH_TEST_KILL_SPAN_MS=200  kill instants
#                              uniform in [MIN, MIN + SPAN) ms after each start
#   CRASH_TEST_MAX_RUNS=N      when set: every run is killed until one finishes
#                              first, and the pass fails after N runs
#                              (CRASH_TEST_KILLS is then the least number of
#                              kills that makes the pass meaningful)
#   CRASH_TEST_JOB_FLAGS=...   more camera_top_k flags (e.g.
#                              --checkpoint_incremental=false)
#   CRASH_TEST_KEEP=1          keep the work directory even on success
#
# Exit status 0 when every comparison holds; 1 otherwise, with the work
# directory kept and its path, the failing run's stderr and the first
# differing lines printed.
set -uo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 CAMERA_TOP_K CAMERA_GENERATE" >&2
  exit 2
fi
JOB="$(realpath "$1")"
GEN="$(realpath "$2")"
EVENTS="${CRASH_TEST_EVENTS:-10000000}"
KILLS="${CRASH_TEST_KILLS:-12}"
PARALLELISMS="${CRASH_TEST_PARALLELISM:-1 2 1:2}"
INTERVAL="${CRASH_TEST_INTERVAL:-100ms}"
SEED="${CRASH_TEST_SEED:-$(( $(date +%s) % 100000 ))}"
DEDUP_RETENTION="${CRASH_TEST_DEDUP_RETENTION:-10s}"
KILL_MIN_MS="${CRASH_TEST_KILL_MIN_MS:-200}"
KILL_SPAN_MS="${CRASH_TEST_KILL_SPAN_MS:-200}"
MAX_RUNS="${CRASH_TEST_MAX_RUNS:-0}"
JOB_FLAGS="${CRASH_TEST_JOB_FLAGS:-}"
RANDOM="${SEED}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/camera-crash-test.XXXXXX")"
echo "crash test: work directory ${WORK}, seed ${SEED} (CRASH_TEST_SEED=${SEED} repeats the kill instants)"

fail() {
  echo "CRASH TEST FAILED: $*" >&2
  echo "  work directory kept: ${WORK}" >&2
  exit 1
}
now_ms() { date +%s%3N; }

# ---- input: generated detections + malformed lines; one location removed
"${GEN}" --detections_out="${WORK}/generated.csv" --locations_out="${WORK}/locations_all.csv" \
    --generate_count="${EVENTS}" --generate_duplicate_rate=0.02 \
    --generate_seed=7 >/dev/null 2>&1 || fail "camera_generate failed"
awk 'NR > 1 && NR % 50000 == 0 { print "malformed,line," NR } { print }' \
    "${WORK}/generated.csv" >"${WORK}/detections.csv" || fail "awk failed"
rm -f "${WORK}/generated.csv"
grep -v '^7,' "${WORK}/locations_all.csv" >"${WORK}/locations.csv"

job_args() {  # $1 = parallelism, $2 = output dir
  echo --detections="${WORK}/detections.csv" --locations="${WORK}/locations.csv" \
       --window=1s --top_x=5 --out_of_orderness=500ms --dedup_retention="${DEDUP_RETENTION}" \
       --parallelism="$1" --output="$2/out.csv" --dead_letter="$2/dead.csv" --progress=false \
       ${JOB_FLAGS}
}

compare() {  # $1 = reference file, $2 = file under test, $3 = what
  if ! cmp -s "$1" "$2"; then
    echo "--- $3 differs: $(cmp "$1" "$2" 2>&1 | head -1)" >&2
    echo "    reference: $(wc -c <"$1") bytes, $(wc -l <"$1") lines; crashed runs: $(wc -c <"$2" 2>/dev/null || echo missing) bytes" >&2
    diff "$1" "$2" | head -20 >&2
    return 1
  fi
}

for P in ${PARALLELISMS}; do
  IFS=: read -r -a SEQ <<<"${P}"  # the parallelism of run i is SEQ[(i-1) % len]
  REF="${WORK}/p${P/:/-}-reference"
  RUN="${WORK}/p${P/:/-}-crashed"
  CKPT="${WORK}/p${P/:/-}-checkpoints"
  mkdir -p "${REF}" "${RUN}"

  start=$(now_ms)
  # shellcheck disable=SC2046
  "${JOB}" $(job_args "${SEQ[0]}" "${REF}") 2>"${REF}/stderr" ||
    { cat "${REF}/stderr" >&2; fail "parallelism ${P}: the reference run failed"; }
  ref_ms=$(( $(now_ms) - start ))
  [[ -s "${REF}/out.csv" && -s "${REF}/dead.csv" ]] || fail "parallelism ${P}: empty reference output"
  echo "parallelism ${P}: reference run ${ref_ms} ms, $(wc -l <"${REF}/out.csv") result lines, $(wc -l <"${REF}/dead.csv") dead letters"

  # Kill instants: uniform in [200 ms, 400 ms) after each start: long enough
  # for a run to start, restore and complete a checkpoint (at the default
  # 100 ms interval), and fixed, not scaled by the reference run's time (a
  # reference slowed by a loaded machine would make the kills sparse enough
  # for the job to finish early). KILLS kills thus cover about a second or
  # two of work, well under the reference run's; the run after the last kill
  # goes to the end.
  kills=0
  runs=0
  start=$(now_ms)
  while :; do
    runs=$(( runs + 1 ))
    (( MAX_RUNS == 0 || runs <= MAX_RUNS )) ||
      fail "parallelism ${P}: not finished after ${MAX_RUNS} runs (${kills} kills)"
    # shellcheck disable=SC2046
    "${JOB}" $(job_args "${SEQ[$(( (runs - 1) % ${#SEQ[@]} ))]}" "${RUN}") --checkpoint_dir="${CKPT}" \
        --checkpoint_interval="${INTERVAL}" 2>"${RUN}/stderr-${runs}" &
    pid=$!
    killed=0
    if (( MAX_RUNS > 0 || kills < KILLS )); then
      delay=$(( KILL_MIN_MS + RANDOM % KILL_SPAN_MS ))
      deadline=$(( $(now_ms) + delay ))
      while kill -0 "${pid}" 2>/dev/null && (( $(now_ms) < deadline )); do sleep 0.02; done
      if kill -9 "${pid}" 2>/dev/null; then
        killed=1
        kills=$(( kills + 1 ))
      fi
    fi
    wait "${pid}" 2>/dev/null
    rc=$?
    (( killed )) && continue
    if (( rc != 0 )); then
      echo "--- stderr of run ${runs}:" >&2
      tail -20 "${RUN}/stderr-${runs}" >&2
      fail "parallelism ${P}: run ${runs} (after ${kills} kills) exited with status ${rc} without being killed"
    fi
    break
  done
  crash_ms=$(( $(now_ms) - start ))
  restores=$(cat "${RUN}"/stderr-* | grep -c "restored from" || true)
  echo "parallelism ${P}: ${kills} SIGKILLs, ${runs} runs, ${restores} restores, ${crash_ms} ms in all"
  echo "  last run: $(grep -h "restored_from\|read=" "${RUN}/stderr-${runs}" | tail -1)"

  (( kills >= (MAX_RUNS > 0 ? KILLS : 10) )) ||
    fail "parallelism ${P}: the job finished after only ${kills} kills: make the input larger (CRASH_TEST_EVENTS)"
  (( restores >= 1 )) ||
    fail "parallelism ${P}: no run restored from a checkpoint (is checkpointing merged? see ${RUN}/stderr-*)"
  ok=1
  compare "${REF}/out.csv" "${RUN}/out.csv" "parallelism ${P}: result CSV" || ok=0
  compare "${REF}/dead.csv" "${RUN}/dead.csv" "parallelism ${P}: dead-letter CSV" || ok=0
  for f in "${RUN}/out.csv.inprogress" "${RUN}/dead.csv.inprogress"; do
    [[ -e "${f}" ]] && { echo "--- ${f} left behind after a finished run" >&2; ok=0; }
  done
  (( ok )) || fail "parallelism ${P}: the output after ${kills} crashes is not the reference"
  echo "parallelism ${P}: output and dead letters identical to the reference"
done

if [[ "${CRASH_TEST_KEEP:-0}" != 1 ]]; then rm -rf "${WORK}"; fi
echo "crash test passed"
