#!/usr/bin/env bash
# The camera job across processes (docs/scale-out.md) on brook-kafka-mock:
# the union of the outputs of 2 and of 3 processes, sorted, equals one
# process's output over the same bounded topic, for tumbling, sliding and
# global windows; with --repartition_by_detection on a topic keyed at
# random, too. The input is camera_generate's (out of order by up to 4 s,
# within --out_of_orderness=5s; 1 % re-sent duplicates).
#
# Usage: scale_out_test.sh CAMERA_TOP_K CAMERA_GENERATE BROOK_KAFKA_MOCK
#   SCALE_TEST_EVENTS=N   events (default 30000; the mock keeps ~35,000
#                         JSON detections per partition, 8 partitions)
#   SCALE_TEST_SKEW=1     also the skewed-input report (one location with
#                         half the events, 2 processes): records received
#                         per Top-K subtask with and without pre-aggregation
set -euo pipefail

JOB="$1"
GEN="$2"
MOCK="$3"
EVENTS="${SCALE_TEST_EVENTS:-30000}"
source "$(dirname "${BASH_SOURCE[0]}")/scale_test_lib.sh"

# ---- the mock cluster and the two input topics (8 partitions each)
start_mock_cluster --topic=detections:8 --topic=random:8 --topic=skewed:8

# $1 = events, $2 = extra camera_generate flags; JSON values, keyed by
# detection_oid into "detections" and by line number into "random".
produce() {
  "${GEN}" --detections_out="${WORK}/gen.csv" --locations_out="${WORK}/locations.csv" \
    --generate_count="$1" $2 >/dev/null 2>&1 || fail "camera_generate failed"
  awk -F, -v mode="$3" 'NR > 1 {
      key = mode == "random" ? NR * 7919 % 1000003 : $3
      printf "%s\t{\"geographical_location_oid\":%s,\"video_camera_oid\":%s,\"detection_oid\":%s,\"item_name\":\"%s\",\"timestamp_detected\":%s}\n", key, $1, $2, $3, $4, $5
    }' "${WORK}/gen.csv" | kcat -P -b "${BROKERS}" -t "$4" -K '\t' || fail "kcat -P failed"
}
produce "${EVENTS}" "--generate_out_of_order=4s" detection detections
produce "${EVENTS}" "--generate_out_of_order=4s" random random

common() {  # $1 = topic
  echo --kafka_brokers="${BROKERS}" --detections_topic="$1" --kafka_bounded \
       --locations="${WORK}/locations.csv" --top_x=5 --out_of_orderness=5s --progress=false
}

# $1 = run name, $2 = processes, $3.. = flags; outputs in WORK/$1/out-I.csv,
# stderr in WORK/$1/err-I.txt.
run_processes() {
  local name="$1" n="$2"
  shift 2
  mkdir -p "${WORK}/${name}"
  local pids=()
  for ((i = 0; i < n; i++)); do
    "${JOB}" "$@" --num_processes="${n}" --process_index="${i}" --job_id="${name}" \
      --output="${WORK}/${name}/out-${i}.csv" 2>"${WORK}/${name}/err-${i}.txt" &
    pids+=($!)
  done
  for ((i = 0; i < n; i++)); do
    wait "${pids[$i]}" || { cat "${WORK}/${name}"/err-*.txt >&2; fail "${name}: process ${i} failed"; }
  done
}

# The rows of CSV files without their header, sorted (output order is
# window end, location, rank; any total order compares the multisets).
rows() { for f in "$@"; do tail -n +2 "${f}"; done | LC_ALL=C sort; }

compare() {  # $1 = name, $2 = reference CSV, $3.. = outputs
  local name="$1" ref="$2"
  shift 2
  rows "${ref}" >"${WORK}/${name}.expected"
  rows "$@" >"${WORK}/${name}.actual"
  [[ -s "${WORK}/${name}.expected" ]] || fail "${name}: empty reference"
  local dups
  dups="$(uniq -d "${WORK}/${name}.actual" | head -3)"
  [[ -z "${dups}" ]] || fail "${name}: duplicate rows: ${dups}"
  diff -q "${WORK}/${name}.expected" "${WORK}/${name}.actual" >/dev/null ||
    { diff "${WORK}/${name}.expected" "${WORK}/${name}.actual" | head -10 >&2;
      fail "${name}: union of the processes' outputs differs from one process's"; }
  echo "ok ${name}: $(wc -l <"${WORK}/${name}.actual") rows"
}

# The runs mostly wait on the mock cluster (exchange fetches, topic
# metadata), so they run side by side; each run's processes too.
declare -A WINDOWS=([tumbling]="--window=1s" [sliding]="--window=1s --slide=500ms" [global]="--window=0")
reference() {  # $1 = name, $2 = topic, $3.. = flags
  local name="$1" topic="$2"
  shift 2
  "${JOB}" $(common "${topic}") "$@" --output="${WORK}/ref-${name}.csv" 2>"${WORK}/ref-${name}.err" ||
    { cat "${WORK}/ref-${name}.err" >&2; fail "reference ${name}"; }
}
pids=()
for w in tumbling sliding global; do
  # shellcheck disable=SC2086
  reference "${w}" detections ${WINDOWS[$w]} &
  pids+=($!)
  for n in 2 3; do
    # shellcheck disable=SC2086
    run_processes "${w}-${n}" "${n}" $(common detections) ${WINDOWS[$w]} &
    pids+=($!)
  done
done
# A topic keyed at random: the copies of a detection are in several
# partitions, so they meet only after the dedup exchange; without it the
# duplicates split over processes are counted twice (so the check is not
# vacuous).
reference random random --window=1s &
pids+=($!)
run_processes "random-2" 2 $(common random) --window=1s --repartition_by_detection &
pids+=($!)
run_processes "random-2-nodedup" 2 $(common random) --window=1s &
pids+=($!)
for pid in "${pids[@]}"; do wait "${pid}" || fail "a run failed"; done

for w in tumbling sliding global; do
  for n in 2 3; do compare "${w}-${n}" "${WORK}/ref-${w}.csv" "${WORK}/${w}-${n}"/out-*.csv; done
done
compare "random-2" "${WORK}/ref-random.csv" "${WORK}/random-2"/out-*.csv
if diff -q <(rows "${WORK}/ref-random.csv") <(rows "${WORK}/random-2-nodedup"/out-*.csv) >/dev/null; then
  fail "random keys without --repartition_by_detection gave the reference output: no duplicate crossed partitions"
fi
echo "ok random-2-nodedup: differs as expected"

if [[ "${SCALE_TEST_SKEW:-0}" == 1 ]]; then
  # One location with half the events: a Zipf exponent of 1.7 over 50
  # locations gives location 1 about 51 %; the report prints its share.
  produce "${EVENTS}" "--generate_location_skew=1.7" detection skewed
  run_processes "skew-2" 2 $(common skewed) --window=1s
  awk -F, 'NR > 1 { n[$1]++; t++ } END { m = 0; for (l in n) if (n[l] > m) { m = n[l]; top = l }
      printf "skew: location %s has %d of %d events (%.1f %%)\n", top, m, t, 100 * m / t }' "${WORK}/gen.csv"
  grep -h -E "top_k_records_in|accepted=" "${WORK}/skew-2"/err-*.txt | sed "s/ elapsed.*//"
fi
echo "PASS"
