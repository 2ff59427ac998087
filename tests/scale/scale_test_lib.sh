# Sourced by the scale-out test scripts (tests/scale/scale_out_test.sh,
# tests/crash/scale_out_crash_test.sh): a work directory removed at exit,
# fail(), and the mock Kafka cluster.
#
#   start_mock_cluster --topic=NAME:PARTITIONS...
#     starts brook-kafka-mock (${MOCK}) with those topics; sets BROKERS. It
#     runs while descriptor 9 (its stdin) is open, i.e. until this shell ends.

WORK="$(mktemp -d)"
MOCK_PID=""
cleanup() {
  [[ -n "${MOCK_PID}" ]] && kill "${MOCK_PID}" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "${WORK}"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v kcat >/dev/null || fail "needs kcat"

start_mock_cluster() {
  mkfifo "${WORK}/mock-stdin"
  "${MOCK}" "$@" <"${WORK}/mock-stdin" >"${WORK}/mock-stdout" 2>"${WORK}/mock-stderr" &
  MOCK_PID=$!
  exec 9>"${WORK}/mock-stdin"
  for _ in $(seq 100); do [[ -s "${WORK}/mock-stdout" ]] && break; sleep 0.05; done
  BROKERS="$(head -1 "${WORK}/mock-stdout")"
  [[ -n "${BROKERS}" ]] || fail "brook-kafka-mock printed no bootstrap servers"
}
