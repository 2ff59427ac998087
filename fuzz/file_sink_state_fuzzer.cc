// Fuzz target: the transactional file sink's restored state
// (TransactionalFileSink<DeadLetter>::Writer::RestoreState with an order and
// event-time release, so every field of the state is read: version, the
// pre-committed length, the header flag, rows written, buffered rows and
// their timestamps), against a pending file of a known length; then the
// restored writer is driven to the end of input. Also the file source's
// position state (internal::DecodeFileSourcePosition) on the same bytes.
// Each outcome is a restored sink or a status, never a crash.
//
// BROOK_FUZZ_DUMP_SEED=PATH writes a real snapshot of such a sink (rows
// buffered) to PATH: the seed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "brook/connectors/dead_letter.h"
#include "brook/connectors/file_source.h"
#include "brook/connectors/transactional_file_sink.h"
#include "fuzz_util.h"

namespace {

namespace bc = brook::connectors;

using Sink = bc::TransactionalFileSink<bc::DeadLetter>;

std::shared_ptr<Sink> OpenSink(const std::string& path) {
  bc::FileSinkOptions<bc::DeadLetter> options;
  options.encoder = [](const bc::DeadLetter& d, std::string& out) {
    out.append(d.raw_line).append("\n");
  };
  options.header = "raw_line";
  options.order = [](const bc::DeadLetter& a, const bc::DeadLetter& b) {
    return a.line_number < b.line_number;
  };
  options.release_by_event_time = true;
  auto sink = Sink::Open(path, bc::FileSinkMode::kTransactional, std::move(options));
  if (!sink.ok()) std::abort();
  return *sink;
}

std::vector<brook::StreamRecord<bc::DeadLetter>> Rows(const char* raw_line, int64_t timestamp_ms) {
  std::vector<brook::StreamRecord<bc::DeadLetter>> batch(1);
  batch[0].value = {.source = "f.csv", .line_number = 3, .reason = "r", .raw_line = raw_line};
  batch[0].timestamp_ms = timestamp_ms;
  return batch;
}

void DumpSeed(const char* seed) {
  auto sink = OpenSink(brook_fuzz::ProcessTempDir() + "/seed.csv");  // outlives its writer
  auto writer = sink->CreateWriter({});
  if (!writer.ok()) std::abort();
  auto a = Rows("released", 1), b = Rows("buffered", 100);
  if (!(*writer)->Write(a).ok() || !(*writer)->OnWatermark(10).ok() ||
      !(*writer)->Write(b).ok()) {
    std::abort();
  }
  auto state = (*writer)->SnapshotState(1);
  if (!state.ok()) std::abort();
  brook_fuzz::WriteFileOrDie(seed, *state);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool dumped = [] {
    if (const char* seed = std::getenv("BROOK_FUZZ_DUMP_SEED")) DumpSeed(seed);
    return true;
  }();
  (void)dumped;
  const std::string state(reinterpret_cast<const char*>(data), size);
  static const std::string path = brook_fuzz::ProcessTempDir() + "/out.csv";
  // What a crashed run left: 64 bytes pending, nothing committed.
  brook_fuzz::WriteFileOrDie(path + ".inprogress", std::string(64, 'r'));
  brook_fuzz::WriteFileOrDie(path, "");
  auto sink = OpenSink(path);  // outlives its writer
  auto writer = sink->CreateWriter(brook::SinkWriterContext{});
  if (!writer.ok()) std::abort();
  if ((*writer)->RestoreState({state}).ok()) {
    auto batch = Rows("after restore", 5);
    if (!(*writer)->Write(batch).ok()) std::abort();
    if (!(*writer)->OnWatermark(10).ok()) std::abort();
    if (!(*writer)->Flush().ok()) std::abort();
  }
  bc::internal::FileSourcePosition position;
  (void)bc::internal::DecodeFileSourcePosition({state}, &position);
  return 0;
}
