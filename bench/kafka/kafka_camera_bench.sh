#!/usr/bin/env bash
# Events/s of the camera job reading a topic of brook-kafka-mock (bounded,
# JSON values), against the same events from a JSON Lines file.
#
#   bench/kafka/kafka_camera_bench.sh [BUILD_DIR] [EVENTS] [RUNS]
#     BUILD_DIR  default build; needs camera_top_k, camera_generate and
#                brook-kafka-mock built there, and kcat on PATH
#     EVENTS     default 1000000 (camera_generate, 2% re-sends)
#     RUNS       runs per configuration, default 3 (the best is reported)
#
# The topic has one partition per 25,000 events (40 for 1M): the mock keeps
# at most 5 MiB per partition and a JSON value is about 140 bytes. Events are
# keyed by detection_oid (kcat's default partitioner). Reported: wall time of
# the whole process (start, the readers' metadata queries, reading, the job,
# the output) and events/s = EVENTS / that time; the job's own records/s
# (its summary line, from the first record to the end) in parentheses.
set -euo pipefail
BUILD="$(realpath "${1:-build}")"
EVENTS="${2:-1000000}"
RUNS="${3:-3}"
JOB="${BUILD}/examples/camera_top_k"
GEN="${BUILD}/examples/camera_generate"
MOCK="${BUILD}/connectors/kafka/brook-kafka-mock"
for f in "${JOB}" "${GEN}" "${MOCK}"; do [[ -x "${f}" ]] || { echo "missing ${f}" >&2; exit 2; }; done
command -v kcat >/dev/null || { echo "kcat is not installed" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kafka-camera-bench.XXXXXX")"
MOCK_PID=""
cleanup() { [[ -n "${MOCK_PID}" ]] && kill "${MOCK_PID}" 2>/dev/null; rm -rf "${WORK}"; }
trap cleanup EXIT
now_ms() { date +%s%3N; }

"${GEN}" --detections_out="${WORK}/generated.csv" --locations_out="${WORK}/locations.csv" \
    --generate_count="${EVENTS}" --generate_duplicate_rate=0.02 --generate_seed=7 >/dev/null 2>&1
awk -F, 'NR > 1 { printf "%s\t{\"geographical_location_oid\":%s,\"video_camera_oid\":%s,\"detection_oid\":%s,\"item_name\":\"%s\",\"timestamp_detected\":%s}\n", $3, $1, $2, $3, $4, $5 }' \
    "${WORK}/generated.csv" >"${WORK}/keyed.txt"
cut -f2- "${WORK}/keyed.txt" >"${WORK}/detections.jsonl"
rm -f "${WORK}/generated.csv"

PARTITIONS=$(( (EVENTS + 24999) / 25000 ))
mkfifo "${WORK}/mock-stdin"
"${MOCK}" --topic="detections:${PARTITIONS}" <"${WORK}/mock-stdin" >"${WORK}/mock-stdout" 2>/dev/null &
MOCK_PID=$!
exec 9>"${WORK}/mock-stdin"
for _ in $(seq 100); do [[ -s "${WORK}/mock-stdout" ]] && break; sleep 0.05; done
BROKERS="$(head -1 "${WORK}/mock-stdout")"
start=$(now_ms)
kcat -P -b "${BROKERS}" -t detections -K '\t' <"${WORK}/keyed.txt"
produce_ms=$(( $(now_ms) - start ))
rm -f "${WORK}/keyed.txt"
echo "events: ${EVENTS} in ${PARTITIONS} partitions; kcat produced them in ${produce_ms} ms"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

run() {  # $1 = label, rest = input flags; prints the best of RUNS
  local label="$1" best_ms=0 best_rate=""
  shift
  for _ in $(seq "${RUNS}"); do
    start=$(now_ms)
    "${JOB}" "$@" --locations="${WORK}/locations.csv" --window=10s --top_x=10 \
        --output="${WORK}/out.csv" --dead_letter="${WORK}/dead.csv" --progress=false \
        2>"${WORK}/stderr" || { cat "${WORK}/stderr" >&2; exit 1; }
    local ms=$(( $(now_ms) - start ))
    if (( best_ms == 0 || ms < best_ms )); then
      best_ms=${ms}
      best_rate="$(grep -o 'records/s=[0-9]*' "${WORK}/stderr" | cut -d= -f2)"
    fi
  done
  printf "%-28s %7d ms  %9d events/s  (job: %s records/s)\n" "${label}" "${best_ms}" \
      $(( EVENTS * 1000 / best_ms )) "${best_rate}"
}

KAFKA=(--kafka_brokers="${BROKERS}" --detections_topic=detections --kafka_bounded)
run "kafka, parallelism 1" "${KAFKA[@]}" --parallelism=1
run "kafka, parallelism 2" "${KAFKA[@]}" --parallelism=2
run "jsonl file, parallelism 1" --detections="${WORK}/detections.jsonl" --parallelism=1
run "jsonl file, parallelism 2" --detections="${WORK}/detections.jsonl" --parallelism=2
