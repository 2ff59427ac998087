#!/usr/bin/env bash
# brook-kafka-mock end to end: bad flags exit 2; the first stdout line is the
# bootstrap servers; kcat produces to and consumes from a --topic through it;
# the program stops when stdin closes and on SIGTERM.
#   tests/kafka/kafka_mock_program_test.sh build/connectors/kafka/brook-kafka-mock
set -uo pipefail
MOCK="$(realpath "$1")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kafka-mock-test.XXXXXX")"
fail() { echo "FAILED: $*" >&2; cat "${WORK}"/*.err >&2 2>/dev/null; exit 1; }

for bad in --brokers=0 --brokers=x --topic=t --topic=t:0 --topic=:3 --nope; do
  "${MOCK}" "${bad}" </dev/null >/dev/null 2>&1
  rc=$?
  (( rc == 2 )) || fail "${bad}: exit status ${rc}, expected 2"
done

# Stops on stdin EOF: stdin is a FIFO whose only writer is fd 7.
mkfifo "${WORK}/stdin"
"${MOCK}" --brokers=2 --topic=demo:3 <"${WORK}/stdin" >"${WORK}/out" 2>"${WORK}/a.err" &
pid=$!
exec 7>"${WORK}/stdin"
for _ in $(seq 100); do [[ -s "${WORK}/out" ]] && break; sleep 0.05; done
BS="$(head -1 "${WORK}/out")"
[[ "${BS}" =~ ^127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$ ]] || fail "first line '${BS}' is not two loopback brokers"
printf 'one\ntwo\nthree\n' | kcat -P -b "${BS}" -t demo -k same-key || fail "kcat -P failed"
got="$(kcat -C -b "${BS}" -t demo -e -q -f '%k=%s\n' | sort | tr '\n' ' ')"
[[ "${got}" == "same-key=one same-key=three same-key=two " ]] || fail "consumed '${got}'"
partitions="$(kcat -L -b "${BS}" -t demo | grep -c 'partition [0-9]')"
(( partitions == 3 )) || fail "topic demo has ${partitions} partitions, expected 3"
exec 7>&-
for _ in $(seq 100); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.05; done
kill -0 "${pid}" 2>/dev/null && { kill -9 "${pid}"; fail "still running after stdin closed"; }
wait "${pid}" || fail "exit status $? after stdin closed"

# Stops on SIGTERM (stdin held open by the FIFO's writer).
"${MOCK}" <"${WORK}/stdin" >"${WORK}/out2" 2>"${WORK}/b.err" &
pid=$!
exec 7>"${WORK}/stdin"
for _ in $(seq 100); do [[ -s "${WORK}/out2" ]] && break; sleep 0.05; done
kill -TERM "${pid}"
for _ in $(seq 100); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.05; done
kill -0 "${pid}" 2>/dev/null && { kill -9 "${pid}"; fail "still running after SIGTERM"; }
wait "${pid}" || fail "exit status $? after SIGTERM"
exec 7>&-
rm -rf "${WORK}"
echo "brook-kafka-mock test passed"
