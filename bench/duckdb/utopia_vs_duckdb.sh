#!/usr/bin/env bash
# File: bench/duckdb/utopia_vs_duckdb.sh
#
# The camera job on the utopia data (Dataset A 1,010,787 detections, Dataset
# B the locations; ../shared/data/utopia, see tests/integration) against the
# same query in DuckDB, whole processes side by side, repeats alternating
# (brook, duckdb, brook, ...), medians of wall and CPU (user+sys) seconds:
# dedup keep-first by detection_oid, inner join with the locations, top 10
# items per location over the whole input (one global window). It checks
# that both produce the same (location, rank, item, count) rows.
#
# DuckDB runs under node with the npm package @duckdb/node-api, installed
# by this script into a cache directory (never a dependency of brook):
# $BROOK_BENCH_CACHE (default ~/.cache/brook-bench)/duckdb. Needs node and
# npm, and the registry once. Node's start-up is part of DuckDB's time, as
# the camera job's process start-up is part of brook's.
#
# Usage: bench/duckdb/utopia_vs_duckdb.sh [repeats=5]
#   env: CAMERA_TOP_K (default build/examples/camera_top_k), UTOPIA_DIR
#   (default ../shared/data/utopia), BROOK_PARALLELISM (2), DUCKDB_THREADS (2),
#   DUCKDB_VERSION (npm version, default 1.5.6-r.1: DuckDB 1.5.6).
# Prints one line per run, then:
#   brook_wall_s=A duckdb_wall_s=B brook/duckdb=R rows=agree
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
REPEATS="${1:-5}"
CAMERA_TOP_K="${CAMERA_TOP_K:-${ROOT}/build/examples/camera_top_k}"
UTOPIA_DIR="${UTOPIA_DIR:-${ROOT}/../shared/data/utopia}"
P="${BROOK_PARALLELISM:-2}"
THREADS="${DUCKDB_THREADS:-2}"
CACHE="${BROOK_BENCH_CACHE:-${HOME}/.cache/brook-bench}/duckdb"
A="${UTOPIA_DIR}/camera_detection_events.csv"
B="${UTOPIA_DIR}/geographical_locations.csv"

for f in "$CAMERA_TOP_K" "$A" "$B"; do
  [[ -e "$f" ]] || { echo "utopia_vs_duckdb: missing $f" >&2; exit 2; }
done
command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "utopia_vs_duckdb: needs node and npm" >&2; exit 2; }

if [[ ! -d "${CACHE}/node_modules/@duckdb/node-api" ]]; then
  echo "# installing @duckdb/node-api into ${CACHE}" >&2
  mkdir -p "$CACHE"
  npm install --loglevel=error --no-audit --no-fund --prefix "$CACHE" \
    "@duckdb/node-api@${DUCKDB_VERSION:-1.5.6-r.1}" >&2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat > "${CACHE}/utopia_top10.mjs" <<'JS'
// node utopia_top10.mjs A.csv B.csv out.csv threads
import { DuckDBInstance } from '@duckdb/node-api';
const [a, b, out, threads] = process.argv.slice(2);
const q = (s) => `'${s.replaceAll("'", "''")}'`;
const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const c = await db.connect();
await c.run(`
COPY (
  WITH raw AS (SELECT *, row_number() OVER () AS rn FROM read_csv(${q(a)}, header = true)),
  dedup AS (SELECT * FROM raw QUALIFY row_number() OVER (PARTITION BY detection_oid ORDER BY rn) = 1),
  joined AS (SELECT d.geographical_location_oid, d.item_name FROM dedup d
             JOIN read_csv(${q(b)}, header = true) l USING (geographical_location_oid)),
  counts AS (SELECT geographical_location_oid, item_name, count(*) AS item_count
             FROM joined GROUP BY ALL),
  ranked AS (SELECT *, row_number() OVER (PARTITION BY geographical_location_oid
                                          ORDER BY item_count DESC, item_name) AS item_rank
             FROM counts QUALIFY item_rank <= 10)
  SELECT geographical_location_oid, item_rank, item_name, item_count FROM ranked ORDER BY 1, 2
) TO ${q(out)} (HEADER, DELIMITER ',')`);
JS

# Runs "$@" once; prints "wall user sys" seconds.
timed() {
  if ! /usr/bin/time -f '%e %U %S' "$@" >/dev/null 2>"${WORK}/err"; then
    cat "${WORK}/err" >&2
    return 1
  fi
  tail -n 1 "${WORK}/err"
}

brook_cmd=("$CAMERA_TOP_K" "--detections=$A" "--locations=$B" --timestamp_unit=s --top_x=10
           "--parallelism=$P" --progress=false "--output=${WORK}/brook.csv")
duck_cmd=(node "${CACHE}/utopia_top10.mjs" "$A" "$B" "${WORK}/duckdb.csv" "$THREADS")

sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }

declare -a bw dw bc dc
for ((i = 1; i <= REPEATS; i++)); do
  t="$(timed "${brook_cmd[@]}")"
  read -r w u s <<<"$t"
  bw+=("$w"); bc+=("$(sum "$u" "$s")")
  echo "rep $i brook  wall ${w} s cpu ${bc[-1]} s"
  t="$(timed "${duck_cmd[@]}")"
  read -r w u s <<<"$t"
  dw+=("$w"); dc+=("$(sum "$u" "$s")")
  echo "rep $i duckdb wall ${w} s cpu ${dc[-1]} s"
done

# The same rows? (location oid, rank, item, count), from brook's CSV by header.
python3 - "${WORK}/brook.csv" "${WORK}/duckdb.csv" > "${WORK}/agree" <<'PY'
import csv, sys
def rows(path, cols):
    with open(path, newline='') as f:
        return sorted(tuple(r[c] for c in cols) for r in csv.DictReader(f))
cols = ['geographical_location_oid', 'item_rank', 'item_name', 'item_count']
a, b = rows(sys.argv[1], cols), rows(sys.argv[2], cols)
print('agree' if a == b and a else f'DISAGREE ({len(a)} vs {len(b)} rows)')
PY

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
mb="$(median "${bw[@]}")"; md="$(median "${dw[@]}")"
echo "# medians over ${REPEATS}: brook cpu $(median "${bc[@]}") s, duckdb cpu $(median "${dc[@]}") s; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "brook_wall_s=${mb} duckdb_wall_s=${md} brook/duckdb=$(awk -v a="$mb" -v b="$md" 'BEGIN { printf "%.2f", a / b }') rows=$(cat "${WORK}/agree")"
