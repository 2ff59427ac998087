// File: brook/connectors/callback_sink.h
//
// CallbackSink<T>: hands every record to a function, for embedding a job in a
// service (results to a cache, a socket, a UI) without a file in between.
//
// The callback is called from the sink subtask's thread, records in arrival
// order; at parallelism > 1 each subtask calls it from its own thread, so it
// must then be thread-safe. It keeps no state: after a restore from a
// checkpoint, records since that checkpoint are delivered again
// (at-least-once, as Flink's SinkFunction without two-phase commit).
// records_written() may be read from any thread.
#ifndef BROOK_CONNECTORS_CALLBACK_SINK_H_
#define BROOK_CONNECTORS_CALLBACK_SINK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/sink.h"

namespace brook::connectors {

template <typename T>
class CallbackSink final : public Sink<T> {
 public:
  explicit CallbackSink(std::function<void(const T& record)> callback)
      : callback_(std::move(callback)) {}

  absl::StatusOr<std::unique_ptr<SinkWriter<T>>> CreateWriter(
      const SinkWriterContext& /*ctx*/) override {
    return std::unique_ptr<SinkWriter<T>>(new Writer(this));
  }

  // Records handed to the callback so far, by every subtask.
  int64_t records_written() const { return records_written_.load(std::memory_order_relaxed); }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(CallbackSink* sink) : sink_(sink) {}
    absl::Status Write(std::vector<StreamRecord<T>>& batch) override {
      for (const auto& r : batch) sink_->callback_(r.value);
      sink_->records_written_.fetch_add(static_cast<int64_t>(batch.size()),
                                        std::memory_order_relaxed);
      return absl::OkStatus();
    }

   private:
    CallbackSink* sink_;
  };

  std::function<void(const T&)> callback_;
  std::atomic<int64_t> records_written_{0};
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_CALLBACK_SINK_H_
