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
# The Kafka pass (issue #12; with BROOK_KAFKA_MOCK given) does the same over a
# bounded topic: brook-kafka-mock runs as a separate process for the whole
# pass (it outlives every kill), the generated events go into a topic as JSON
# values keyed by detection_oid (kcat), plus malformed values, and the job
# reads it with --detections_topic --kafka_bounded, resuming from the offsets
# in its checkpoints. Its --out_of_orderness (5s) covers the generator's
# disorder (1s) and the readers' turns over the partitions:
# at parallelism 2 whether an out-of-bound record is late depends on how the
# readers' records interleave downstream, so only in-bound input has one
# right answer (as in Flink). The dead letters are compared byte for byte
# too: for Kafka input the dead-letter sink releases each row when the
# watermark reaches its event time (FileSinkOptions::release_by_event_time),
# so the file does not depend on how the partitions' records interleave.
#
# By hand (from the repository root, after building):
#   tests/crash/camera_crash_test.sh build/examples/camera_top_k build/examples/camera_generate \
#       [build/connectors/kafka/brook-kafka-mock]
# or: ctest --test-dir build -L crash --output-on-failure
#
# Environment (all optional):
#   CRASH_TEST_EVENTS=N        input size (default 16000000: about 4 s per run
#                              at p=2 on an idle 2-core machine, where 12
#                              kills got through 9M of 10M)
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
#   CRASH_TEST_KILL_AFTER_CHECKPOINT=1  file input: kill each run 0-150 ms
#                              after it completed a checkpoint of its own
#                              (as the Kafka pass does) instead of at
#                              KILL_MIN_MS + [0, KILL_SPAN_MS): every run then
#                              makes progress, however loaded the machine
#   CRASH_TEST_MAX_RUNS=N      when set: every run is killed until one finishes
#                              first, and the pass fails after N runs
#                              (CRASH_TEST_KILLS is then the least number of
#                              kills that makes the pass meaningful)
#   CRASH_TEST_JOB_FLAGS=...   more camera_top_k flags (e.g.
#                              --checkpoint_incremental=false)
#   CRASH_TEST_KEEP=1          keep the work directory even on success
#   CRASH_TEST_STALL_MS=120000 a reference run alive this long, or a run left
#                              to finish alive 8 times the reference's time
#                              (at least a quarter of this), has stalled: its
#                              threads' stacks are printed (gdb) and it fails
#   CRASH_TEST_INPUTS="file kafka"  the passes (default: file, and kafka when
#                              BROOK_KAFKA_MOCK is given)
#   CRASH_TEST_KAFKA_PARALLELISM="1 2 1:2"  the Kafka pass's entries (as above;
#                              "1:2": each reader takes its partitions from the
#                              union of the readers' states)
#   CRASH_TEST_KAFKA_EVENTS=N  Kafka input size (default 3000000, about 2.5 s
#                              per run: a run killed 0-150 ms after its first
#                              checkpoint gets through ~125,000 events at p=2
#                              on an idle 2-core machine, and 1,000,000 ended
#                              after 4-8 kills); one partition per 25,000
#                              events keeps each under the mock's 5 MiB
#
# Exit status 0 when every comparison holds; 1 otherwise, with the work
# directory kept and its path, the failing run's stderr and the first
# differing lines printed.
set -uo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 CAMERA_TOP_K CAMERA_GENERATE [BROOK_KAFKA_MOCK]" >&2
  exit 2
fi
JOB="$(realpath "$1")"
GEN="$(realpath "$2")"
MOCK="${3:+$(realpath "$3")}"
INPUTS="${CRASH_TEST_INPUTS:-file${MOCK:+ kafka}}"
KAFKA_EVENTS="${CRASH_TEST_KAFKA_EVENTS:-3000000}"
KAFKA_PARTITIONS=$(( (KAFKA_EVENTS + 24999) / 25000 ))  # at most 25,000 (3.75 MiB) a partition
KAFKA_PARALLELISMS="${CRASH_TEST_KAFKA_PARALLELISM:-1 2 1:2}"
EVENTS="${CRASH_TEST_EVENTS:-16000000}"
KILLS="${CRASH_TEST_KILLS:-12}"
PARALLELISMS="${CRASH_TEST_PARALLELISM:-1 2 1:2}"
INTERVAL="${CRASH_TEST_INTERVAL:-100ms}"
SEED="${CRASH_TEST_SEED:-$(( $(date +%s) % 100000 ))}"
DEDUP_RETENTION="${CRASH_TEST_DEDUP_RETENTION:-10s}"
KILL_MIN_MS="${CRASH_TEST_KILL_MIN_MS:-200}"
KILL_SPAN_MS="${CRASH_TEST_KILL_SPAN_MS:-200}"
MAX_RUNS="${CRASH_TEST_MAX_RUNS:-0}"
JOB_FLAGS="${CRASH_TEST_JOB_FLAGS:-}"
STALL_MS="${CRASH_TEST_STALL_MS:-120000}"
RANDOM="${SEED}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/camera-crash-test.XXXXXX")"
echo "crash test: work directory ${WORK}, seed ${SEED} (CRASH_TEST_SEED=${SEED} repeats the kill instants)"

MOCK_PID=""
stop_mock() { [[ -n "${MOCK_PID}" ]] && kill "${MOCK_PID}" 2>/dev/null; MOCK_PID=""; }
trap stop_mock EXIT
fail() {
  echo "CRASH TEST FAILED: $*" >&2
  echo "  work directory kept: ${WORK}" >&2
  exit 1
}
now_ms() { date +%s%3N; }
# The id of the newest complete checkpoint in ${CKPT} (0: none).
latest_checkpoint() {
  local newest=0 m id
  for m in "${CKPT}"/chk-*/_metadata; do
    [[ -e "${m}" ]] || continue
    id="${m%/_metadata}"
    id="${id##*/chk-}"
    (( id > newest )) && newest=${id}
  done
  echo "${newest}"
}

# Waits for run $1 (a pid) until $2 (ms since the epoch). A run still alive
# then has stalled: every thread's stack (gdb, when installed) goes to
# stderr, the run is killed and the test fails with $3 (what the run was),
# instead of ending in ctest's timeout with nothing to go on. Else returns
# the run's exit status.
wait_or_dump() {
  local pid="$1" deadline="$2" what="$3"
  while kill -0 "${pid}" 2>/dev/null && (( $(now_ms) < deadline )); do sleep 0.05; done
  if kill -0 "${pid}" 2>/dev/null; then
    echo "--- ${what} has stalled; its threads:" >&2
    if command -v gdb >/dev/null; then
      gdb -p "${pid}" -batch -ex "thread apply all bt 30" 2>&1 | grep -E '^(Thread|#)' >&2
    else
      echo "    (gdb is not installed: no stacks)" >&2
    fi
    kill -9 "${pid}" 2>/dev/null
    wait "${pid}" 2>/dev/null
    fail "${what} stalled"
  fi
  wait "${pid}" 2>/dev/null
}

generate() {  # $1 = events: generated.csv and locations.csv (location 7 removed)
  "${GEN}" --detections_out="${WORK}/generated.csv" --locations_out="${WORK}/locations_all.csv" \
      --generate_count="$1" --generate_duplicate_rate=0.02 \
      --generate_seed=7 >/dev/null 2>&1 || fail "camera_generate failed"
  grep -v '^7,' "${WORK}/locations_all.csv" >"${WORK}/locations.csv"
}

# ---- file input: generated detections + malformed lines; one location removed
prepare_file() {
  generate "${EVENTS}"
  awk 'NR > 1 && NR % 50000 == 0 { print "malformed,line," NR } { print }' \
      "${WORK}/generated.csv" >"${WORK}/detections.csv" || fail "awk failed"
  rm -f "${WORK}/generated.csv"
  INPUT_ARGS="--detections=${WORK}/detections.csv --out_of_orderness=500ms"
  PASSES="${PARALLELISMS}"
  KILL_AFTER_CHECKPOINT="${CRASH_TEST_KILL_AFTER_CHECKPOINT:-0}"
  INTERVAL="${CRASH_TEST_INTERVAL:-100ms}"
}

# ---- Kafka input: the generated events as JSON values keyed by
# detection_oid, every 20000th followed by malformed values (bad JSON, a
# wrong type, an item_name over 5,000 bytes, invalid UTF-8), in a topic of
# brook-kafka-mock, which runs until the end of the test.
prepare_kafka() {
  [[ -n "${MOCK}" ]] || fail "the kafka pass needs BROOK_KAFKA_MOCK (third argument)"
  command -v kcat >/dev/null || fail "the kafka pass needs kcat"
  generate "${KAFKA_EVENTS}"
  local long
  long="$(head -c 5001 /dev/zero | tr '\0' n)"
  awk -F, -v long="${long}" 'NR > 1 {
      printf "%s\t{\"geographical_location_oid\":%s,\"video_camera_oid\":%s,\"detection_oid\":%s,\"item_name\":\"%s\",\"timestamp_detected\":%s}\n", $3, $1, $2, $3, $4, $5
      if (NR % 20000 == 0) {
        print "bad\t{\"geographical_location_oid\":" NR ","
        print "bad\t{\"geographical_location_oid\":1,\"video_camera_oid\":\"x\",\"detection_oid\":" NR ",\"item_name\":\"a\",\"timestamp_detected\":1}"
        print "bad\t{\"geographical_location_oid\":1,\"video_camera_oid\":1,\"detection_oid\":" NR ",\"item_name\":\"" long "\",\"timestamp_detected\":1}"
        print "bad\t{\"geographical_location_oid\":1,\"item_name\":\"\303\050\"}"
      }
    }' "${WORK}/generated.csv" >"${WORK}/keyed.txt" || fail "awk failed"
  rm -f "${WORK}/generated.csv"
  mkfifo "${WORK}/mock-stdin"
  "${MOCK}" --topic=detections:${KAFKA_PARTITIONS} <"${WORK}/mock-stdin" >"${WORK}/mock-stdout" 2>"${WORK}/mock-stderr" &
  MOCK_PID=$!
  exec 9>"${WORK}/mock-stdin"  # the mock runs while this is open (and stops on SIGTERM)
  for _ in $(seq 100); do [[ -s "${WORK}/mock-stdout" ]] && break; sleep 0.05; done
  local brokers
  brokers="$(head -1 "${WORK}/mock-stdout")"
  [[ -n "${brokers}" ]] || fail "brook-kafka-mock printed no bootstrap servers"
  kcat -P -b "${brokers}" -t detections -K '\t' <"${WORK}/keyed.txt" || fail "kcat -P failed"
  rm -f "${WORK}/keyed.txt"
  INPUT_ARGS="--kafka_brokers=${brokers} --detections_topic=detections --kafka_bounded --out_of_orderness=5s"
  # A Kafka reader first asks the cluster for its partitions and their end
  # offsets, so its first checkpoint comes at a time that depends on the
  # machine's load: each run is killed once it has completed a checkpoint
  # of its own, then 0 to 150 ms later (at a 50 ms interval: enough kills on
  # a fast machine, progress on a loaded one).
  KILL_AFTER_CHECKPOINT=1
  INTERVAL="${CRASH_TEST_INTERVAL:-50ms}"
  PASSES="${KAFKA_PARALLELISMS}"
}

job_args() {  # $1 = parallelism, $2 = output dir
  echo ${INPUT_ARGS} --locations="${WORK}/locations.csv" \
       --window=1s --top_x=5 --dedup_retention="${DEDUP_RETENTION}" \
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

for INPUT in ${INPUTS}; do
"prepare_${INPUT}"
for P in ${PASSES}; do
  IFS=: read -r -a SEQ <<<"${P}"  # the parallelism of run i is SEQ[(i-1) % len]
  REF="${WORK}/${INPUT}-p${P/:/-}-reference"
  RUN="${WORK}/${INPUT}-p${P/:/-}-crashed"
  CKPT="${WORK}/${INPUT}-p${P/:/-}-checkpoints"
  P="${INPUT} ${P}"  # for the messages
  mkdir -p "${REF}" "${RUN}"

  start=$(now_ms)
  # shellcheck disable=SC2046
  "${JOB}" $(job_args "${SEQ[0]}" "${REF}") 2>"${REF}/stderr" &
  wait_or_dump $! $(( start + STALL_MS )) "parallelism ${P}: the reference run" ||
    { cat "${REF}/stderr" >&2; fail "parallelism ${P}: the reference run failed"; }
  ref_ms=$(( $(now_ms) - start ))
  [[ -s "${REF}/out.csv" && -s "${REF}/dead.csv" ]] || fail "parallelism ${P}: empty reference output"
  echo "parallelism ${P}: reference run ${ref_ms} ms, $(wc -l <"${REF}/out.csv") result lines, $(wc -l <"${REF}/dead.csv") dead letters"

  # Kill instants: uniform in [KILL_MIN_MS, KILL_MIN_MS + KILL_SPAN_MS) after
  # each start (default [200 ms, 400 ms); Kafka: see
  # KILL_AFTER_CHECKPOINT above): long enough
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
    before=$(latest_checkpoint)
    run_start=$(now_ms)
    # shellcheck disable=SC2046
    "${JOB}" $(job_args "${SEQ[$(( (runs - 1) % ${#SEQ[@]} ))]}" "${RUN}") --checkpoint_dir="${CKPT}" \
        --checkpoint_interval="${INTERVAL}" 2>"${RUN}/stderr-${runs}" &
    pid=$!
    killed=0
    if (( MAX_RUNS > 0 || kills < KILLS )); then
      if (( KILL_AFTER_CHECKPOINT )); then
        cap=$(( $(now_ms) + 10000 ))
        while kill -0 "${pid}" 2>/dev/null && (( $(latest_checkpoint) <= before && $(now_ms) < cap )); do
          sleep 0.01
        done
        delay=$(( RANDOM % 150 ))
      else
        delay=$(( KILL_MIN_MS + RANDOM % KILL_SPAN_MS ))
      fi
      deadline=$(( $(now_ms) + delay ))
      while kill -0 "${pid}" 2>/dev/null && (( $(now_ms) < deadline )); do sleep 0.02; done
      if kill -9 "${pid}" 2>/dev/null; then
        killed=1
        kills=$(( kills + 1 ))
      fi
    fi
    # A run left to finish gets 8 times the reference run's time (at least
    # STALL_MS / 4): a run after a restore does less than the reference.
    wait_or_dump "${pid}" $(( run_start + (8 * ref_ms > STALL_MS / 4 ? 8 * ref_ms : STALL_MS / 4) )) \
        "parallelism ${P}: run ${runs} (after ${kills} kills)"
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
    fail "parallelism ${P}: the job finished after only ${kills} kills: make the input larger (CRASH_TEST_EVENTS, CRASH_TEST_KAFKA_EVENTS)"
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
stop_mock
done

if [[ "${CRASH_TEST_KEEP:-0}" != 1 ]]; then rm -rf "${WORK}"; fi
echo "crash test passed"
