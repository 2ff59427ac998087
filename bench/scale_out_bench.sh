#!/usr/bin/env bash
# Throughput of the camera job as 1, 2 and 3 processes over one bounded
# topic of brook-kafka-mock (docs/performance.md, "Scale-out"):
# per run the wall time from the first start to the last exit, and the CPU
# time (user + sys) of all the job's processes (the mock's own excluded),
# per event. Runs alternate (1, 2, 3, 1, 2, 3, ...); medians of REPEATS.
#
# Usage: bench/scale_out_bench.sh CAMERA_TOP_K CAMERA_GENERATE BROOK_KAFKA_MOCK
#   EVENTS (default 600000), PARTITIONS (default 24: the mock keeps ~35,000
#   JSON detections per partition), REPEATS (default 5), WINDOW (default 10s)
set -euo pipefail
JOB="$1"; GEN="$2"; MOCK="$3"
EVENTS="${EVENTS:-600000}"; REPEATS="${REPEATS:-5}"; WINDOW="${WINDOW:-10s}"; PARTITIONS="${PARTITIONS:-24}"
WORK="$(mktemp -d)"; MOCK_PID=""
trap '[[ -n "${MOCK_PID}" ]] && kill "${MOCK_PID}" 2>/dev/null; rm -rf "${WORK}"' EXIT
mkfifo "${WORK}/mock-stdin"
"${MOCK}" --topic=detections:"${PARTITIONS}" <"${WORK}/mock-stdin" >"${WORK}/mock-stdout" 2>/dev/null &
MOCK_PID=$!
exec 9>"${WORK}/mock-stdin"
for _ in $(seq 100); do [[ -s "${WORK}/mock-stdout" ]] && break; sleep 0.05; done
BROKERS="$(head -1 "${WORK}/mock-stdout")"
"${GEN}" --detections_out="${WORK}/gen.csv" --locations_out="${WORK}/locations.csv" \
  --generate_count="${EVENTS}" >/dev/null 2>&1
awk -F, 'NR > 1 { printf "%s\t{\"geographical_location_oid\":%s,\"video_camera_oid\":%s,\"detection_oid\":%s,\"item_name\":\"%s\",\"timestamp_detected\":%s}\n", $3, $1, $2, $3, $4, $5 }' \
  "${WORK}/gen.csv" | kcat -P -b "${BROKERS}" -t detections -K '\t'
ARGS=(--kafka_brokers="${BROKERS}" --detections_topic=detections --kafka_bounded
      --locations="${WORK}/locations.csv" --window="${WINDOW}" --top_x=10 --progress=false)

run() {  # $1 = processes, $2 = run id; prints "wall_s cpu_s"
  local n="$1" start end pids=()
  start="$(date +%s.%N)"
  for ((i = 0; i < n; i++)); do
    local scale=()
    ((n > 1)) && scale=(--num_processes="${n}" --process_index="${i}" --job_id="bench-$2")
    /usr/bin/time -f "%U %S" -o "${WORK}/time-${i}" "${JOB}" "${ARGS[@]}" "${scale[@]}" \
      --output="${WORK}/out-${i}.csv" 2>/dev/null &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "${pid}"; done
  end="$(date +%s.%N)"
  cat "${WORK}"/time-* | awk -v w="$(echo "${end} - ${start}" | bc)" '{ c += $1 + $2 } END { print w, c }'
  rm -f "${WORK}"/time-*
}

for ((r = 0; r < REPEATS; r++)); do
  for n in 1 2 3; do echo "${n} $(run "${n}" "${r}-${n}")" >>"${WORK}/results"; done
done
echo "processes  median_wall_s  events/s  median_cpu_s  cpu_us/event"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for n in 1 2 3; do
  wall="$(awk -v n="${n}" '$1 == n { print $2 }' "${WORK}/results" | median)"
  cpu="$(awk -v n="${n}" '$1 == n { print $3 }' "${WORK}/results" | median)"
  awk -v n="${n}" -v e="${EVENTS}" -v w="${wall}" -v c="${cpu}" \
    'BEGIN { printf "%d  %.2f  %.0f  %.2f  %.1f\n", n, w, e / w, c, c * 1e6 / e }'
done
