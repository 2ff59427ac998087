// File: brook/internal/channel.h  (internal: not part of the API)
//
// Mailbox and InputGate: how work reaches a subtask's thread. Every subtask
// owns one Mailbox (Flink's mailbox model): actions posted from other threads
// (processing-time callbacks, cancellation) run in the subtask's own thread
// between batches, so operators never see concurrency. A consuming subtask's
// InputGate adds one bounded FIFO channel per upstream subtask; a full channel
// blocks its producer, which is how backpressure reaches the sources.
#ifndef BROOK_INTERNAL_CHANNEL_H_
#define BROOK_INTERNAL_CHANNEL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "brook/metrics.h"
#include "brook/record.h"

namespace brook::internal {

using Mail = std::function<absl::Status()>;

class Mailbox {
 public:
  virtual ~Mailbox() = default;

  // Thread-safe. Runs `mail` in the subtask's thread, soon.
  void Post(Mail mail) {
    absl::MutexLock lock(&mu_);
    mail_.push_back(std::move(mail));
    consumer_cv_.Signal();
  }
  // Thread-safe. Wakes and stops the subtask (and unblocks its producers).
  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    consumer_cv_.SignalAll();
    producer_cv_.SignalAll();
  }
  bool cancelled() {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }
  // Takes the pending mail (in posting order); waits up to `timeout` for some.
  std::deque<Mail> TakeMail(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    if (mail_.empty() && !cancelled_ && timeout > absl::ZeroDuration()) {
      consumer_cv_.WaitWithTimeout(&mu_, timeout);
    }
    return std::exchange(mail_, {});
  }

 protected:
  absl::Mutex mu_;
  absl::CondVar consumer_cv_;
  absl::CondVar producer_cv_;
  std::deque<Mail> mail_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// What travels on a channel: a batch of records or one control element.
// Elements of one channel are never reordered, so a checkpoint barrier
// (kBarrier) separates the records before checkpoint `checkpoint_id` from
// those after it, as Flink's CheckpointBarrier. A kLatencyMarker (Flink's
// LatencyMarker) queues behind the records sent before it.
template <typename T>
struct ChannelElement {
  enum class Kind : uint8_t {
    kRecords, kWatermark, kIdle, kActive, kEndOfInput, kBarrier, kLatencyMarker
  };
  Kind kind = Kind::kRecords;
  int64_t watermark_ms = 0;
  int64_t checkpoint_id = 0;  // kBarrier only
  bool savepoint = false;     // kBarrier only
  int64_t marked_time_us = 0;  // kLatencyMarker only: when its source emitted it
  std::vector<StreamRecord<T>> records;
};

template <typename T>
class InputGate final : public Mailbox {
 public:
  InputGate(int num_channels, int capacity_batches)
      : channels_(num_channels),
        capacity_(static_cast<size_t>(capacity_batches)),
        paused_(num_channels, false) {}

  int num_channels() const { return static_cast<int>(channels_.size()); }

  // Consumer thread only. Poll skips a paused channel: its elements wait (and
  // a full one backpressures its producer) until it is resumed.
  void SetPaused(int channel, bool paused) { paused_[channel] = paused; }

  // Thread-safe (any producer). Blocks while `channel` holds `capacity`
  // elements (backpressure), adding the time blocked to `backpressured_ms`.
  // Returns false when the job was cancelled.
  bool Push(int channel, ChannelElement<T> element, Counter* backpressured_ms) {
    absl::MutexLock lock(&mu_);
    auto& q = channels_[channel];
    if (q.size() >= capacity_ && !cancelled_) {
      const absl::Time start = absl::Now();
      while (q.size() >= capacity_ && !cancelled_) producer_cv_.Wait(&mu_);
      if (backpressured_ms != nullptr) {
        backpressured_ms->Inc(absl::ToInt64Milliseconds(absl::Now() - start));
      }
    }
    if (cancelled_) return false;
    q.push_back(std::move(element));
    consumer_cv_.Signal();
    return true;
  }

  enum class Next { kMail, kElement, kNothing, kCancelled };

  // Consumer thread only. Mail first (so timers are not starved), then one
  // element, taken round-robin across channels; waits when `block` is set and
  // there is neither.
  Next Poll(bool block, std::deque<Mail>* mail, ChannelElement<T>* element, int* channel) {
    absl::MutexLock lock(&mu_);
    while (true) {
      if (cancelled_) return Next::kCancelled;
      if (!mail_.empty()) {
        *mail = std::exchange(mail_, {});
        return Next::kMail;
      }
      const size_t n = channels_.size();
      for (size_t i = 0; i < n; ++i) {
        const size_t c = (next_ + i) % n;
        auto& q = channels_[c];
        if (q.empty() || paused_[c]) continue;
        const bool was_full = q.size() >= capacity_;
        *element = std::move(q.front());
        q.pop_front();
        *channel = static_cast<int>(c);
        next_ = c + 1;
        if (was_full) producer_cv_.SignalAll();
        return Next::kElement;
      }
      if (!block) return Next::kNothing;
      consumer_cv_.Wait(&mu_);
    }
  }

 private:
  std::vector<std::deque<ChannelElement<T>>> channels_ ABSL_GUARDED_BY(mu_);
  const size_t capacity_;
  size_t next_ = 0;  // consumer thread only
  std::vector<bool> paused_;  // consumer thread only
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_CHANNEL_H_
