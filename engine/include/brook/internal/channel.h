// File: brook/internal/channel.h  (internal: not part of the API)
//
// Mailbox and InputGate: how work reaches a subtask's thread. Every subtask
// owns one Mailbox (Flink's mailbox model): actions posted from other threads
// (processing-time callbacks, cancellation) run in the subtask's own thread
// between batches, so operators never see concurrency. A consuming subtask's
// InputGate adds one bounded FIFO channel per upstream subtask; a full channel
// blocks its producer, which is how backpressure reaches the sources.
//
// Locks are std::mutex and std::condition_variable, not absl::Mutex: a
// Debian build of Abseil runs its deadlock detector on every absl::Mutex
// lock, and these are taken once per batch on every edge. Each channel also
// hands the record vectors of the batches its consumer has finished back to
// its producer (as Flink's network buffers go back to their pool), so a warm
// edge allocates nothing: without that, every batch was allocated by one
// thread and freed by another, and glibc returned and re-faulted the pages.
#ifndef BROOK_INTERNAL_CHANNEL_H_
#define BROOK_INTERNAL_CHANNEL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "brook/metrics.h"
#include "brook/record.h"

namespace brook::internal {

using Mail = std::function<absl::Status()>;

class Mailbox {
 public:
  virtual ~Mailbox() = default;

  // Thread-safe. Runs `mail` in the subtask's thread, soon.
  void Post(Mail mail) {
    std::lock_guard<std::mutex> lock(mu_);
    mail_.push_back(std::move(mail));
    has_mail_.store(true, std::memory_order_relaxed);
    consumer_cv_.notify_one();
  }
  // Thread-safe. Wakes and stops the subtask (and unblocks its producers).
  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_.store(true, std::memory_order_relaxed);
    consumer_cv_.notify_all();
    producer_cv_.notify_all();
  }
  // Thread-safe, lock-free.
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // Takes the pending mail (in posting order); waits up to `timeout` for
  // some. Without a timeout and without mail it takes no lock (a source
  // subtask asks before every poll of its reader).
  std::deque<Mail> TakeMail(absl::Duration timeout) {
    if (timeout <= absl::ZeroDuration() && !has_mail_.load(std::memory_order_relaxed)) return {};
    std::unique_lock<std::mutex> lock(mu_);
    if (mail_.empty() && !cancelled() && timeout > absl::ZeroDuration()) {
      consumer_cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout));
    }
    has_mail_.store(false, std::memory_order_relaxed);
    return std::exchange(mail_, {});
  }

 protected:
  // Guards mail_ and, in InputGate, the channels. has_mail_ and cancelled_
  // change under it and may be read without it (a stale read only delays
  // the mail or the cancellation by one poll).
  std::mutex mu_;
  std::condition_variable consumer_cv_;
  std::condition_variable producer_cv_;
  std::deque<Mail> mail_;
  std::atomic<bool> has_mail_{false};
  std::atomic<bool> cancelled_{false};
};

// What travels on a channel: a batch of records or one control element.
// Elements of one channel are never reordered, so a checkpoint barrier
// (kBarrier) separates the records before checkpoint `checkpoint_id` from
// those after it, as Flink's CheckpointBarrier. A kLatencyMarker (Flink's
// LatencyMarker) queues behind the records sent before it. A watermark
// pushed while the channel's last element is a batch still queued rides on
// that batch (InputGate::Push).
template <typename T>
struct ChannelElement {
  enum class Kind : uint8_t {
    kRecords, kWatermark, kIdle, kActive, kEndOfInput, kBarrier, kLatencyMarker
  };
  Kind kind = Kind::kRecords;
  // kWatermark; and kRecords when watermark_follows: the watermark that
  // follows the batch's records.
  int64_t watermark_ms = 0;
  bool watermark_follows = false;  // kRecords only
  int64_t checkpoint_id = 0;  // kBarrier only
  bool savepoint = false;     // kBarrier only
  int64_t marked_time_us = 0;  // kLatencyMarker only: when its source emitted it
  std::vector<StreamRecord<T>> records;
};

template <typename T>
class InputGate final : public Mailbox {
 public:
  using Batch = std::vector<StreamRecord<T>>;

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
  // Returns false when the job was cancelled. With `recycled` set, also
  // swaps into it an empty batch (its capacity kept) that the consumer has
  // finished with, if the channel has one; else leaves it as it is.
  // A watermark that follows a batch the consumer has not taken yet rides on
  // that batch (the consumer applies it right after the batch's records):
  // the consumer takes one element, and is woken once, where it took two. A
  // keyed edge pushes its partly filled batches before every watermark.
  // Every watermark still reaches the consumer, in order: one never replaces
  // another.
  bool Push(int channel, ChannelElement<T> element, Counter* backpressured_ms,
            Batch* recycled = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    Channel& ch = channels_[channel];
    if (element.kind == ChannelElement<T>::Kind::kWatermark && !ch.queue.empty() &&
        JoinWatermark(ch.queue.back(), element.watermark_ms)) {
      return !cancelled();
    }
    if (ch.queue.size() >= capacity_ && !cancelled()) {
      const absl::Time start = absl::Now();
      producer_cv_.wait(lock, [&] { return ch.queue.size() < capacity_ || cancelled(); });
      if (backpressured_ms != nullptr) {
        backpressured_ms->Inc(absl::ToInt64Milliseconds(absl::Now() - start));
      }
    }
    if (cancelled()) return false;
    const bool was_empty = ch.queue.empty();
    ch.queue.push_back(std::move(element));
    if (recycled != nullptr && !ch.free.empty()) {
      recycled->swap(ch.free.back());
      ch.free.pop_back();
    }
    lock.unlock();
    // Only a push into an empty channel can end the consumer's wait.
    if (was_empty) consumer_cv_.notify_one();
    return true;
  }

  enum class Next { kMail, kElement, kNothing, kCancelled };

  // Consumer thread only. Mail first (so timers are not starved), then one
  // element, taken round-robin across channels; waits when `block` is set and
  // there is neither. Before `*element` is overwritten, the capacity of its
  // (cleared) records goes back to channel `*channel`, where it came from.
  Next Poll(bool block, std::deque<Mail>* mail, ChannelElement<T>* element, int* channel) {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (cancelled()) return Next::kCancelled;
      if (!mail_.empty()) {
        *mail = std::exchange(mail_, {});
        has_mail_.store(false, std::memory_order_relaxed);
        return Next::kMail;
      }
      const size_t n = channels_.size();
      for (size_t i = 0; i < n; ++i) {
        const size_t c = (next_ + i) % n;
        Channel& ch = channels_[c];
        if (ch.queue.empty() || paused_[c]) continue;
        Recycle(element, *channel);
        const bool was_full = ch.queue.size() >= capacity_;
        *element = std::move(ch.queue.front());
        ch.queue.pop_front();
        *channel = static_cast<int>(c);
        next_ = c + 1;
        lock.unlock();
        if (was_full) producer_cv_.notify_all();
        return Next::kElement;
      }
      if (!block) return Next::kNothing;
      consumer_cv_.wait(lock);
    }
  }

 private:
  struct Channel {
    std::deque<ChannelElement<T>> queue;
    // Empty batches with capacity, for the producer: at most one more than
    // the queue holds, so the pool never exceeds what is in flight.
    std::vector<Batch> free;
  };

  // Under mu_. Whether `last` (still queued) took the watermark: a batch
  // that carries none yet does.
  static bool JoinWatermark(ChannelElement<T>& last, int64_t watermark_ms) {
    if (last.kind != ChannelElement<T>::Kind::kRecords || last.watermark_follows) return false;
    last.watermark_ms = watermark_ms;
    last.watermark_follows = true;
    return true;
  }
  // Under mu_.
  void Recycle(ChannelElement<T>* element, int channel) {
    Batch& records = element->records;
    if (records.capacity() == 0 || channel < 0 || channel >= num_channels()) return;
    Channel& ch = channels_[channel];
    if (ch.free.size() > capacity_) return;
    records.clear();
    ch.free.push_back(std::move(records));
    records = Batch();
  }

  std::vector<Channel> channels_;  // guarded by mu_
  const size_t capacity_;
  size_t next_ = 0;  // consumer thread only
  std::vector<bool> paused_;  // consumer thread only
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_CHANNEL_H_
