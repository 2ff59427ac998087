#!/usr/bin/env bash
# Soak test: runs the camera job live for DURATION and records, every few
# seconds, its resident memory, open file descriptors, checkpoint directory
# size and errors, in a CSV; then prints a summary with least-squares slopes
# (after a warm-up) and fails on errors or on growth beyond the tolerance.
#
#   scripts/soak.sh DURATION            # e.g. 60m, 2m, 90s, 3600 (seconds)
#
# The job: the built-in generator at 20,000 events/s (event time keeps pace
# with wall time), 1-minute tumbling windows firing early every second,
# deduplication remembering ids for 30 s, checkpoints every 5 s (the
# newest 3 kept), a savepoint on SIGUSR1 every minute, two dashboard clients
# following /api/events (Server-Sent Events), and Prometheus scraping /metrics
# every 5 s (the `prometheus` binary when installed; curl otherwise). The
# script's own sample reads /metrics too.
#
# Output (directory BROOK_SOAK_DIR, default a new mktemp -d; kept, and emptied
# of a previous soak's files when reused):
#   soak.csv      elapsed_s,rss_kib,fds,threads,ckpt_bytes,checkpoints,
#                 savepoints,savepoint_bytes,records_read,checkpoints_completed,
#                 checkpoints_failed,sse_events,errors,chk_dirs
#                 (ckpt_bytes: the checkpoint directory without savepoints,
#                 which brook never deletes (the script keeps the newest 2;
#                 savepoint_bytes is theirs); checkpoints: restorable chk-*
#                 directories (holding a _metadata); savepoints: taken so far;
#                 chk_dirs: every chk-* directory, including those kept only
#                 for files that a retained incremental checkpoint still names)
#   summary.txt   the summary printed at the end; job.log the job's stderr
#
# Pass/fail (exit 1 on failure, 2 on bad arguments):
#   - no errors: the job alive until stopped, no failed checkpoint, no line
#     on its stderr other than progress and savepoint lines, every /metrics
#     sample answered, both SSE clients connected to the end, every
#     Prometheus scrape up;
#   - after the warm-up (the first third of the run, at least 30 s: windows,
#     dedup state and the checkpoint directory fill up), the median RSS of the
#     last third of the run exceeds that of the middle third by at most
#     BROOK_SOAK_RSS_TOLERANCE_PCT (default 10) percent plus 16 MiB (medians:
#     a checkpoint's serialisation buffers make single samples jump by tens
#     of MiB; the least-squares slope is reported too), and the descriptor
#     count never exceeds its value at the end of the warm-up by more than 8
#     (HTTP connections come and go);
#   - the checkpoint directory within retention at every sample: at most 4
#     restorable checkpoints (3 retained + 1 just completed), and at most
#     14 chk-* directories in all (with incremental checkpoints, the camera
#     job's default, an older directory stays while a retained checkpoint's
#     chain names its files: 3 retained + CheckpointConfig::max_increments
#     (10) + 1; docs/checkpoints.md, "Retention").
#
# Environment: BROOK_SOAK_BIN (default build/examples/camera_top_k),
# BROOK_SOAK_DIR, BROOK_SOAK_RATE (events/s, default 20000),
# BROOK_SOAK_SAMPLE_S (default 5), BROOK_SOAK_SAVEPOINT_S (default 60),
# BROOK_SOAK_WINDOW (default 1m), BROOK_SOAK_DEDUP (default 30s),
# BROOK_SOAK_RSS_TOLERANCE_PCT.
set -euo pipefail

usage() { echo "usage: $0 DURATION   (e.g. 60m, 2m, 90s, 3600)" >&2; }
(($# == 1)) || { usage; exit 2; }
case "$1" in
  *h) DURATION_S=$((${1%h} * 3600)) ;;
  *m) DURATION_S=$((${1%m} * 60)) ;;
  *s) DURATION_S=${1%s} ;;
  *) DURATION_S=$1 ;;
esac
[[ "${DURATION_S}" =~ ^[0-9]+$ ]] && ((DURATION_S >= 10)) || { usage; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BROOK_SOAK_BIN:-${ROOT}/build/examples/camera_top_k}"
[[ -x "${BIN}" ]] || { echo "soak: ${BIN} not built (ninja -C build camera_top_k)" >&2; exit 2; }
DIR="${BROOK_SOAK_DIR:-$(mktemp -d /tmp/brook-soak.XXXXXX)}"
mkdir -p "${DIR}"
DIR="$(cd "${DIR}" && pwd)"
# A reused directory starts afresh (the job starts with --restore=none).
rm -rf "${DIR}/ckpt" "${DIR}/prometheus" "${DIR}"/sse*.count "${DIR}/scrape.log"
RATE="${BROOK_SOAK_RATE:-20000}"
SAMPLE_S="${BROOK_SOAK_SAMPLE_S:-5}"
SAVEPOINT_S="${BROOK_SOAK_SAVEPOINT_S:-60}"
TOLERANCE_PCT="${BROOK_SOAK_RSS_TOLERANCE_PCT:-10}"
MAX_CHECKPOINTS=4
MAX_CHECKPOINT_DIRS=14

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "${p}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

PORT="$(free_port)"
"${BIN}" --generate --generate_count=0 --generate_rate="${RATE}" \
  --generate_events_per_second="${RATE}" \
  --window="${BROOK_SOAK_WINDOW:-1m}" --early_fire=1s \
  --dedup_retention="${BROOK_SOAK_DEDUP:-30s}" \
  --checkpoint_dir="${DIR}/ckpt" --checkpoint_interval=5s --restore=none \
  --output="${DIR}/top_items.csv" --dead_letter="${DIR}/dead_letters.csv" \
  --http_port="${PORT}" 2>"${DIR}/job.log" &
JOB=$!
PIDS+=("${JOB}")
URL="http://127.0.0.1:${PORT}"
for _ in $(seq 100); do
  curl -sf -o /dev/null "${URL}/api/health" && break
  sleep 0.1
done

# Two dashboard clients on the update stream; each counts the events it got.
SSE_PIDS=()
for i in 1 2; do
  (curl -sN "${URL}/api/events" | awk -v f="${DIR}/sse${i}.count" \
     '/^event: update/ { if (++n % 20 == 0) { print n > f; close(f) } } END { print n+0 > f }') &
  SSE_PIDS+=($!)
  PIDS+=($!)
done

PROM_PORT=""
if command -v prometheus >/dev/null 2>&1; then
  PROM_PORT="$(free_port)"
  cat >"${DIR}/prometheus.yml" <<EOF
global: {scrape_interval: 5s, scrape_timeout: 4s}
scrape_configs:
  - job_name: brook-soak
    static_configs: [{targets: ["127.0.0.1:${PORT}"]}]
EOF
  prometheus --config.file="${DIR}/prometheus.yml" --storage.tsdb.path="${DIR}/prometheus" \
    --web.listen-address="127.0.0.1:${PROM_PORT}" >"${DIR}/prometheus.log" 2>&1 &
  PIDS+=($!)
else
  echo "soak: prometheus not installed; scraping /metrics with curl every 5 s"
  (while sleep 5; do curl -sf -o /dev/null "${URL}/metrics" || echo scrape-failed; done \
     >"${DIR}/scrape.log") &
  PIDS+=($!)
fi

metric_sum() {  # metric_sum NAME [LABEL-FILTER] < metrics text
  awk -v n="$1" -v f="${2:-}" '$1 ~ "^" n "({|$)" && (f == "" || index($1, f)) { s += $2 } END { printf "%.0f", s }'
}
# Job stderr lines that are not progress or savepoint reports are errors.
error_lines() {
  grep -cvE '^progress: |^camera_top_k: (SIGUSR1: taking a savepoint|savepoint written to|dashboard at)' \
    "${DIR}/job.log" || true
}

CSV="${DIR}/soak.csv"
echo "elapsed_s,rss_kib,fds,threads,ckpt_bytes,checkpoints,savepoints,savepoint_bytes,records_read,checkpoints_completed,checkpoints_failed,sse_events,errors,chk_dirs" >"${CSV}"
echo "soak: ${DURATION_S}s, job pid ${JOB}, ${URL}, output in ${DIR}"
START=${SECONDS}
next_savepoint=${SAVEPOINT_S}
metric_failures=0
job_died=0
while :; do
  sleep "${SAMPLE_S}"
  elapsed=$((SECONDS - START))
  if ! kill -0 "${JOB}" 2>/dev/null; then job_died=1; break; fi
  if ((elapsed >= next_savepoint)); then
    kill -USR1 "${JOB}"
    next_savepoint=$((next_savepoint + SAVEPOINT_S))
  fi
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/${JOB}/status")
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/${JOB}/status")
  fds=$(find "/proc/${JOB}/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  ckpt_bytes=$(du -sb --exclude='savepoint-*' "${DIR}/ckpt" 2>/dev/null | cut -f1)
  checkpoints=$(find "${DIR}/ckpt" -mindepth 2 -maxdepth 2 -path '*/chk-*/_metadata' 2>/dev/null | wc -l)
  chk_dirs=$(find "${DIR}/ckpt" -mindepth 1 -maxdepth 1 -name 'chk-*' 2>/dev/null | wc -l)
  savepoints=$(grep -c 'savepoint written to' "${DIR}/job.log" || true)
  # Savepoints are never deleted by brook; like an operator, keep the newest 2.
  mapfile -t kept < <(find "${DIR}/ckpt" -mindepth 1 -maxdepth 1 -name 'savepoint-*' 2>/dev/null |
                        sort -V)
  while ((${#kept[@]} > 2)); do rm -rf "${kept[0]}"; kept=("${kept[@]:1}"); done
  sp_bytes=0
  if ((${#kept[@]} > 0)); then sp_bytes=$(du -scb "${kept[@]}" | tail -1 | cut -f1); fi
  if metrics="$(curl -sf --max-time 4 "${URL}/metrics")"; then
    read_n=$(metric_sum brook_records_in_total 'operator="parse"' <<<"${metrics}")
    completed=$(metric_sum brook_checkpoints_completed_total <<<"${metrics}")
    failed=$(metric_sum brook_checkpoints_failed_total <<<"${metrics}")
  else
    metric_failures=$((metric_failures + 1))
  fi
  sse=$(awk '{ s += $1 } END { print s + 0 }' "${DIR}"/sse*.count 2>/dev/null || echo 0)
  errors=$(($(error_lines) + metric_failures + ${failed:-0}))
  echo "${elapsed},${rss},${fds},${threads},${ckpt_bytes:-0},${checkpoints},${savepoints},${sp_bytes},${read_n:-0},${completed:-0},${failed:-0},${sse},${errors},${chk_dirs}" >>"${CSV}"
  ((elapsed >= DURATION_S)) && break
done

sse_alive=0
for p in "${SSE_PIDS[@]}"; do kill -0 "${p}" 2>/dev/null && sse_alive=$((sse_alive + 1)); done
prom_line="prometheus: not installed (curl scraped)"
prom_bad=0
if [[ -n "${PROM_PORT}" ]]; then
  q() { curl -sf --data-urlencode "query=$1" "http://127.0.0.1:${PROM_PORT}/api/v1/query" |
          python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)'; }
  range="$((DURATION_S + 60))s"
  scrapes=$(q "count_over_time(up[${range}])" || echo 0)
  scrapes_down=$(q "count_over_time(up[${range}]) - sum_over_time(up[${range}])" || echo 1)
  prom_line="prometheus: ${scrapes} scrapes, ${scrapes_down} of them down"
  ((scrapes > 0 && scrapes_down == 0)) || prom_bad=1
else
  prom_bad=$(grep -c scrape-failed "${DIR}/scrape.log" || true)
fi
kill -TERM "${JOB}" 2>/dev/null || true
wait "${JOB}" 2>/dev/null || true

# Least-squares slope per hour after the warm-up, growth over the fitted span,
# and the other checks; awk prints the summary and exits 1 on a failure.
WARMUP_S=$((DURATION_S / 3 > 30 ? DURATION_S / 3 : 30))
set +e
awk -F, -v warm="${WARMUP_S}" -v tol="${TOLERANCE_PCT}" -v maxck="${MAX_CHECKPOINTS}" -v maxdirs="${MAX_CHECKPOINT_DIRS}" \
    -v died="${job_died}" -v sse_alive="${sse_alive}" -v prom="${prom_line}" -v prom_bad="${prom_bad}" \
    -v jobs_errors="$(error_lines)" '
  NR == 1 { next }
  { last_t = $1; last_err = $13; last_read = $9; last_ck = $10; if ($6 > max_ck) max_ck = $6; if ($14 > max_dirs) max_dirs = $14 }
  $1 < warm { warm_fds = $3; next }
  { n++; rs[n] = $2; t = $1 / 3600; sx += t; sy += $2; sxx += t * t; sxy += t * $2
    fy += $3; fxy += t * $3; sb += $5; sbx += t * $5
    if (n == 1) { t0 = t; if (warm_fds == "") warm_fds = $3 }
    if ($3 > max_fds) max_fds = $3; t1 = t }
  function slope(sy_, sxy_) { return (n * sxy_ - sx * sy_) / (n * sxx - sx * sx) }
  function median(lo, hi,   i, j, k, v, a) {  # of rs[lo..hi]
    k = 0; for (i = lo; i <= hi; i++) a[++k] = rs[i]
    for (i = 2; i <= k; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    if (n < 3) { print "soak: too few samples after the warm-up"; exit 1 }
    rss_slope = slope(sy, sxy); fd_slope = slope(fy, fxy); ck_slope = slope(sb, sbx)
    mean_rss = sy / n; fitted = rss_slope * (t1 - t0)
    mid = median(1, int(n / 2)); late = median(int(n / 2) + 1, n)
    growth = late - mid; allowed = mid * tol / 100 + 16384
    printf "soak summary: %d s, %d samples after a %d s warm-up\n", last_t, n, warm
    printf "  records read %d (%.0f/s), checkpoints completed %d, errors %d\n", last_read, last_read / last_t, last_ck, last_err
    printf "  RSS: mean %.1f MiB, slope %+.2f MiB/h (fitted growth %+.2f MiB); median %.1f MiB in the middle third, %.1f MiB in the last: %+.1f MiB (allowed %.1f)\n", mean_rss / 1024, rss_slope / 1024, fitted / 1024, mid / 1024, late / 1024, growth / 1024, allowed / 1024
    printf "  fds: %d at end of warm-up, max %d after, slope %+.2f /h\n", warm_fds, max_fds, fd_slope
    printf "  checkpoint dir (without savepoints): mean %.1f KiB, slope %+.1f KiB/h; max restorable checkpoints %d (allowed %d), chk-* dirs %d (allowed %d)\n", sb / n / 1024, ck_slope / 1024, max_ck, maxck, max_dirs, maxdirs
    printf "  SSE clients connected at the end: %d of 2; %s\n", sse_alive, prom
    bad = 0
    if (died) { print "  FAIL: the job exited before the end"; bad = 1 }
    if (last_err > 0 || jobs_errors > 0) { print "  FAIL: errors (see job.log and the errors column)"; bad = 1 }
    if (growth > allowed) { print "  FAIL: RSS grew beyond the tolerance"; bad = 1 }
    if (max_fds > warm_fds + 8) { print "  FAIL: descriptors grew"; bad = 1 }
    if (max_ck > maxck || max_dirs > maxdirs) { print "  FAIL: checkpoint directory beyond retention"; bad = 1 }
    if (sse_alive < 2) { print "  FAIL: an SSE client was disconnected"; bad = 1 }
    if (prom_bad) { print "  FAIL: a Prometheus scrape failed"; bad = 1 }
    print (bad ? "soak: FAILED" : "soak: PASSED")
    exit bad
  }' "${CSV}" | tee "${DIR}/summary.txt"
rc=${PIPESTATUS[0]}
echo "soak: CSV ${CSV}"
exit "${rc}"
