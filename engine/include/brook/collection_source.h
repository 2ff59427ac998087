// File: brook/collection_source.h
//
// CollectionSource<T>: a bounded source over values held in memory
// (StreamExecutionEnvironment::FromCollection, tests, embedding), in Flink's
// split model, so that it restores at any parallelism:
//
//   - At the first run the values are cut into as many splits as the source
//     has subtasks: split k holds the positions k, k + p, k + 2p, ... and
//     subtask k reads it (at parallelism 1: every value, in order).
//   - Each reader snapshots its splits with their positions (the next
//     position to read), as Flink's SourceReader#snapshotState.
//   - On restore, at the same or another parallelism p', the splits of every
//     snapshot are pooled and reader i takes the splits k with k % p' == i,
//     and goes on from their positions: every value is read exactly once
//     across the restore.
//
// A reader reads its splits one after the other. The values are shared, not
// copied, by the readers (and with the caller, given a shared_ptr). One
// CollectionSource serves one job execution at a time: its readers pool
// restored splits in the source object.
// Thread-safety: CreateReader() and RestoreState() run before the job's
// threads start; the pool is locked for the readers' Open().
#ifndef BROOK_COLLECTION_SOURCE_H_
#define BROOK_COLLECTION_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "brook/serialization.h"
#include "brook/source.h"
#include "brook/status.h"

namespace brook {

template <typename T>
class CollectionSource final : public Source<T> {
 public:
  explicit CollectionSource(std::vector<T> values)
      : values_(std::make_shared<const std::vector<T>>(std::move(values))),
        pool_(std::make_shared<SplitPool>()) {}
  // Reads the caller's `values` (not null) without copying them; they must
  // not change while a job reads them.
  explicit CollectionSource(std::shared_ptr<const std::vector<T>> values)
      : values_(std::move(values)), pool_(std::make_shared<SplitPool>()) {}

  Boundedness boundedness() const override { return Boundedness::kBounded; }

  // CollectionSource::CreateReader(): the reader of split `subtask_index`
  // (replaced by the pooled splits if the job restores).
  absl::StatusOr<std::unique_ptr<SourceReader<T>>> CreateReader(
      const SourceReaderContext& ctx) override {
    if (ctx.parallelism < 1 || ctx.subtask_index < 0 || ctx.subtask_index >= ctx.parallelism) {
      return absl::InvalidArgumentError(absl::StrCat("CollectionSource: subtask ",
                                                     ctx.subtask_index, " of ", ctx.parallelism));
    }
    if (ctx.subtask_index == 0) pool_->Reset();  // a new execution
    return std::unique_ptr<SourceReader<T>>(
        new Reader(values_, pool_, ctx.subtask_index, ctx.parallelism));
  }

 private:
  // A split: the positions id, id + stride, ...; `next` is the next to read.
  struct Split {
    int64_t id = 0;
    int64_t stride = 1;
    int64_t next = 0;
  };

  // The splits of every restored reader, until each new reader took its own.
  class SplitPool {
   public:
    void Reset() {
      absl::MutexLock lock(&mu_);
      restored_ = false;
      splits_.clear();
    }
    void Add(std::vector<Split> splits) {
      absl::MutexLock lock(&mu_);
      restored_ = true;
      for (Split& s : splits) splits_.push_back(s);
    }
    // False when nothing was restored (the reader keeps its first-run split).
    bool Take(int subtask, int parallelism, std::vector<Split>* out) {
      absl::MutexLock lock(&mu_);
      if (!restored_) return false;
      out->clear();
      for (const Split& s : splits_) {
        if (s.id % parallelism == subtask) out->push_back(s);
      }
      return true;
    }

   private:
    absl::Mutex mu_;
    bool restored_ ABSL_GUARDED_BY(mu_) = false;
    std::vector<Split> splits_ ABSL_GUARDED_BY(mu_);
  };

  class Reader final : public SourceReader<T> {
   public:
    Reader(std::shared_ptr<const std::vector<T>> values, std::shared_ptr<SplitPool> pool,
           int subtask, int parallelism)
        : values_(std::move(values)),
          pool_(std::move(pool)),
          subtask_(subtask),
          parallelism_(parallelism),
          splits_{Split{subtask, parallelism, subtask}} {}

    absl::Status Open() override {
      pool_->Take(subtask_, parallelism_, &splits_);
      return absl::OkStatus();
    }

    absl::StatusOr<InputStatus> PollNext(ReaderOutput<T>& output) override {
      const int64_t size = static_cast<int64_t>(values_->size());
      int budget = kRecordsPerPoll;
      while (current_ < splits_.size() && budget > 0) {
        Split& s = splits_[current_];
        for (; s.next < size && budget > 0; s.next += s.stride, --budget) {
          output.Collect((*values_)[s.next]);
        }
        if (s.next >= size) ++current_;
      }
      return current_ < splits_.size() ? InputStatus::kMoreAvailable : InputStatus::kEndOfInput;
    }

    // Every split this reader owns, finished ones included (a finished split
    // must not be read again by whoever takes it).
    absl::StatusOr<std::string> SnapshotState(int64_t /*checkpoint_id*/) override {
      std::string bytes;
      DataOutputView out(&bytes);
      out.WriteUint8(kStateVersion);
      out.WriteVarint(splits_.size());
      for (const Split& s : splits_) {
        out.WriteInt64(s.id);
        out.WriteInt64(s.stride);
        out.WriteInt64(s.next);
      }
      return bytes;
    }

    // Pools the splits of `states` for the readers' Open(). kDataLoss for
    // bytes that do not decode or a split that does not fit the values.
    absl::Status RestoreState(std::vector<std::string> states) override {
      std::vector<Split> splits;
      for (const std::string& state : states) {
        DataInputView in(state);
        uint8_t version = 0;
        BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
        if (version != kStateVersion) {
          return absl::DataLossError(
              absl::StrCat("CollectionSource: unknown state version ", version));
        }
        size_t n = 0;
        BROOK_RETURN_IF_ERROR(in.ReadLength(&n, 3 * sizeof(int64_t)));
        for (size_t i = 0; i < n; ++i) {
          Split s;
          BROOK_RETURN_IF_ERROR(in.ReadInt64(&s.id));
          BROOK_RETURN_IF_ERROR(in.ReadInt64(&s.stride));
          BROOK_RETURN_IF_ERROR(in.ReadInt64(&s.next));
          if (s.id < 0 || s.stride < 1 || s.next < s.id) {
            return absl::DataLossError(absl::StrCat("CollectionSource: bad split ", s.id));
          }
          splits.push_back(s);
        }
        if (!in.AtEnd()) return absl::DataLossError("CollectionSource: trailing bytes");
      }
      if (!states.empty()) pool_->Add(std::move(splits));
      return absl::OkStatus();
    }

   private:
    static constexpr uint8_t kStateVersion = 2;
    static constexpr int kRecordsPerPoll = 1024;

    std::shared_ptr<const std::vector<T>> values_;
    std::shared_ptr<SplitPool> pool_;
    int subtask_;
    int parallelism_;
    std::vector<Split> splits_;
    size_t current_ = 0;  // the split being read
  };

  std::shared_ptr<const std::vector<T>> values_;
  std::shared_ptr<SplitPool> pool_;
};

}  // namespace brook

#endif  // BROOK_COLLECTION_SOURCE_H_
