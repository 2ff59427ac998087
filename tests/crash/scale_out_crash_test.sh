#!/usr/bin/env bash
# Exactly-once across processes under SIGKILL (docs/scale-out.md): the camera
# job as 2 processes over an 8-partition topic of brook-kafka-mock, with
# checkpoints; process 1 is killed with SIGKILL at random instants and
# restarted with the same command while process 0 runs on. The union of the
# two outputs must equal one uninterrupted process's output, with no
# duplicate row. Then the same at 3 processes, killing process 0.
#
# Usage: scale_out_crash_test.sh CAMERA_TOP_K CAMERA_GENERATE BROOK_KAFKA_MOCK
#   SCALE_CRASH_EVENTS=N  events (default 120000)
#   SCALE_CRASH_KILLS=N   kills per pass (default 6)
set -euo pipefail

JOB="$1"
GEN="$2"
MOCK="$3"
EVENTS="${SCALE_CRASH_EVENTS:-120000}"
KILLS="${SCALE_CRASH_KILLS:-6}"
source "$(dirname "${BASH_SOURCE[0]}")/../scale/scale_test_lib.sh"

start_mock_cluster --topic=detections:8
"${GEN}" --detections_out="${WORK}/gen.csv" --locations_out="${WORK}/locations.csv" \
  --generate_count="${EVENTS}" >/dev/null 2>&1 || fail "camera_generate failed"
awk -F, 'NR > 1 { printf "%s\t{\"geographical_location_oid\":%s,\"video_camera_oid\":%s,\"detection_oid\":%s,\"item_name\":\"%s\",\"timestamp_detected\":%s}\n", $3, $1, $2, $3, $4, $5 }' \
  "${WORK}/gen.csv" | kcat -P -b "${BROKERS}" -t detections -K '\t' || fail "kcat -P failed"

ARGS=(--kafka_brokers="${BROKERS}" --detections_topic=detections --kafka_bounded
      --locations="${WORK}/locations.csv" --window=1s --top_x=5 --out_of_orderness=5s
      --progress=false)
"${JOB}" "${ARGS[@]}" --output="${WORK}/ref.csv" 2>"${WORK}/ref.err" ||
  { cat "${WORK}/ref.err" >&2; fail "reference run"; }
rows() { for f in "$@"; do tail -n +2 "${f}"; done | LC_ALL=C sort; }

# $1 = processes, $2 = the index killed. Each process has its own
# checkpoint directory; the victim is killed KILLS times, 0.2 to 1.2 s after
# each start (the first time, after its first checkpoint), then runs to the end.
crash_pass() {
  local n="$1" victim="$2" name="crash-$1"
  local dir="${WORK}/${name}"
  mkdir -p "${dir}"
  cmd() {  # $1 = process index
    echo "${JOB}" "${ARGS[@]}" --num_processes="${n}" --process_index="$1" --job_id="${name}" \
      --checkpoint_dir="${dir}/ckpt-$1" --checkpoint_interval=50ms --output="${dir}/out-$1.csv"
  }
  local pids=()
  for ((i = 0; i < n; i++)); do
    [[ "${i}" == "${victim}" ]] && continue
    $(cmd "${i}") 2>"${dir}/err-${i}.txt" &
    pids+=($!)
  done
  local kills=0 restored=0
  while true; do
    $(cmd "${victim}") 2>>"${dir}/err-${victim}.txt" &
    local pid=$!
    if ((kills < KILLS)); then
      # Not before the victim has a completed checkpoint of its own: on a
      # loaded machine a start can take longer than the delay below, and a
      # pass whose kills all came first would restore nothing.
      while kill -0 "${pid}" 2>/dev/null &&
        [[ -z "$(find "${dir}/ckpt-${victim}" -name _metadata -print -quit 2>/dev/null)" ]]; do
        sleep 0.02
      done
      sleep "$(awk -v r="${RANDOM}" 'BEGIN { printf "%.2f", 0.2 + r / 32768 }')"
      if kill -0 "${pid}" 2>/dev/null; then
        kill -KILL "${pid}"
        wait "${pid}" 2>/dev/null || true
        kills=$((kills + 1))
        continue
      fi
    fi
    wait "${pid}" || { tail -5 "${dir}/err-${victim}.txt" >&2; fail "${name}: process ${victim} failed"; }
    break
  done
  for pid in "${pids[@]}"; do
    wait "${pid}" || { cat "${dir}"/err-*.txt >&2; fail "${name}: a process failed"; }
  done
  # Starts of the victim that resumed from a checkpoint of its own: the
  # restores this pass exercised.
  restored="$(grep -c "camera_top_k: restored from " "${dir}/err-${victim}.txt" || true)"
  # A pass whose victim finished its input before any checkpoint of its own
  # completed was never killed: it still checks the union, but proves no
  # recovery; if no pass did, the test reports itself skipped (exit 77).
  ((restored > 0)) || echo "note ${name}: process ${victim} completed no checkpoint before its input ended; nothing restored"
  ((restored == 0)) || RECOVERED=$((RECOVERED + 1))
  rows "${WORK}/ref.csv" >"${dir}/expected"
  rows "${dir}"/out-*.csv >"${dir}/actual"
  local dups
  dups="$(uniq -d "${dir}/actual" | head -3)"
  [[ -z "${dups}" ]] || fail "${name}: duplicate rows: ${dups}"
  diff -q "${dir}/expected" "${dir}/actual" >/dev/null ||
    { diff "${dir}/expected" "${dir}/actual" | head -10 >&2; fail "${name}: union differs"; }
  echo "ok ${name}: $(wc -l <"${dir}/actual") rows, process ${victim} killed ${kills} times, restored ${restored} times"
}

RECOVERED=0
crash_pass 2 1
crash_pass 3 0
if ((RECOVERED == 0)); then
  echo "SKIP: no pass restored a killed process (each finished before its first checkpoint)"
  exit 77
fi
echo "PASS"
