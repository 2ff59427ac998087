// File: brook/operators/deduplicate.h
//
// Deduplicate<T, K>: keeps the first record of each id and drops the rest, as
// Flink SQL's deduplication with "keep first row" ordered by processing time
// (`ROW_NUMBER() OVER (PARTITION BY id ORDER BY proctime ASC) = 1`): "first"
// means first in arrival order at the operator, not smallest event timestamp.
// It is a KeyedProcessFunction, so it runs after KeyBy on the id:
// Example:
//   brook::OutputTag<Detection> dups("duplicate-detections");
//   auto unique = detections
//       .KeyBy(&Detection::detection_oid)
//       .Process(brook::ops::Deduplicate<Detection>({
//                    .retention = absl::Hours(1),
//                    .fingerprint = [](const Detection& d) {
//                      return brook::ops::Fingerprinter()
//                          .Add(d.item_name).Add(d.timestamp_detected_ms).value();
//                    },
//                    .duplicates_output = dups}),
//                "dedup");
//   unique.GetSideOutput(dups).SinkTo(dead_letters, "duplicates");
//
// Semantics:
//  - The first record of an id is emitted unchanged, with its timestamp.
//    Every later record of the id is a duplicate: it is dropped from the main
//    output, counted in `num_duplicates`, and sent to `duplicates_output` when
//    that tag is set (so nothing is silently lost).
//  - Conflicting duplicates: when `fingerprint` is set, the first record's
//    fingerprint is kept, and a duplicate whose fingerprint differs (same id,
//    other fields differ) is also counted in `num_conflicting_duplicates` (it
//    is counted in `num_duplicates` too: that counter is every record
//    dropped). It goes to `conflicts_output` when set, else to
//    `duplicates_output`; each dropped record goes to at most one side
//    output. Without a fingerprint conflicts are not detected, and the
//    operator keeps only the set of seen ids (smaller state, see below). The
//    state keeps the fingerprint folded to 32 bits (high half xor low half),
//    so a conflicting duplicate whose folded fingerprint equals the first
//    record's is taken as identical: about once in 4 billion conflicting
//    duplicates of an id (fingerprints are only ever compared within an id).
//  - Retention (DESIGN.md §5, event-time state TTL): with `retention` r > 0,
//    an id first seen in a record with timestamp t is forgotten once the
//    watermark reaches t + r (`t + r <= watermark`); a record of that id
//    processed afterwards is new again: emitted, and remembered from its own
//    timestamp. Only the first record sets t: duplicates never extend it.
//    A record whose own timestamp is already expired (t + r <= watermark
//    when it arrives, i.e. later than the retention) is therefore always
//    emitted, and so is every later copy of it. r = 0 (the default) keeps ids
//    forever, as Flink's default state TTL; state then grows with the number
//    of distinct ids.
//  - The result is deterministic for a deterministic arrival order per id,
//    i.e. for any parallelism of this operator when the ids come from one
//    ordered input; event-time retention keeps it so under replay.
//
// Metrics (RuntimeContext::metrics(), per subtask): num_duplicates,
// num_conflicting_duplicates; the runtime adds num_records_in and the keyed
// state gauges state_entries / state_bytes.
//
// State, one entry per retained id, in the heap backend's per-key-group
// tables: with an integer K (as int64_t) its compact tables, one slot per id
// of 8 bytes (the id), or 16 (the id and the 4-byte folded fingerprint and/or
// the TTL stamp); the tables are 62% to 88% full, about 11 bytes per id
// without fingerprint and retention and 22 with either or both (measured:
// BM_DedupStateBytes in bench/operators_benchmark.cc; docs/operators.md).
//
// Errors: Open() returns kInvalidArgument for a negative retention, for
// conflicts_output without fingerprint, or for a state-name clash. Thread-safety: as every function, one instance per
// subtask, never called concurrently; copies share nothing mutable.
#ifndef BROOK_OPERATORS_DEDUPLICATE_H_
#define BROOK_OPERATORS_DEDUPLICATE_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "brook/functions.h"
#include "brook/key_group.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"
#include "brook/state.h"
#include "brook/status.h"

namespace brook::ops {

// Fingerprinter: a small deterministic 64-bit hash (FNV-1a over the fields'
// bytes, then a final mix) for DeduplicateOptions::fingerprint. Unlike
// absl::Hash, its value is the same in every process and run, so stored
// fingerprints stay comparable after a restore from a checkpoint. Not a
// cryptographic hash.
class Fingerprinter {
 public:
  Fingerprinter& Add(absl::string_view bytes) {
    // Length first, so that ("ab", "c") and ("a", "bc") differ.
    AddInteger(static_cast<uint64_t>(bytes.size()));
    for (unsigned char c : bytes) Mix(c);
    return *this;
  }
  Fingerprinter& Add(const std::string& s) { return Add(absl::string_view(s)); }
  Fingerprinter& Add(const char* s) { return Add(absl::string_view(s)); }
  template <typename I>
    requires std::is_integral_v<I> || std::is_enum_v<I>
  Fingerprinter& Add(I v) {
    return AddInteger(static_cast<uint64_t>(v));
  }
  Fingerprinter& Add(double v) {
    if (v == 0) v = 0;  // +0 and -0 compare equal, so they hash equal
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return AddInteger(bits);
  }
  // The fingerprint of everything added so far.
  uint64_t value() const {
    // MurmurHash3's fmix64: spreads FNV's weak high bits.
    uint64_t h = h_;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
  }

 private:
  Fingerprinter& AddInteger(uint64_t v) {
    for (int i = 0; i < 8; ++i) Mix(static_cast<unsigned char>(v >> (8 * i)));
    return *this;
  }
  void Mix(unsigned char c) {
    h_ ^= c;
    h_ *= 0x100000001b3ULL;
  }
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

template <typename T>
struct DeduplicateOptions {
  // How long (event time) an id is remembered after the timestamp of its
  // first record; zero keeps ids forever. See the header comment.
  absl::Duration retention = absl::ZeroDuration();
  // Optional: the fingerprint of a record's fields (deterministic across
  // processes, e.g. with Fingerprinter). Enables conflict detection; kept
  // folded to 32 bits (see the header comment). Default: none (conflicts
  // are not detected).
  std::function<uint64_t(const T&)> fingerprint = nullptr;
  // Optional side output for dropped duplicates (all of them, conflicting
  // ones too unless conflicts_output is set). Unset: dropped and counted.
  std::optional<OutputTag<T>> duplicates_output = std::nullopt;
  // Optional side output for conflicting duplicates only (needs fingerprint).
  std::optional<OutputTag<T>> conflicts_output = std::nullopt;
  // The keyed state's name (its identity in a checkpoint).
  std::string state_name = "dedup-seen-ids";
  // Optional sizing hint: about how many ids are retained at once across all
  // subtasks (ValueStateDescriptor::expected_keys). 0: the state grows on
  // demand.
  int64_t expected_ids = 0;
};

template <typename T, Key K = int64_t>
class Deduplicate final : public KeyedProcessFunction<K, T, T> {
  using Base = KeyedProcessFunction<K, T, T>;

 public:
  explicit Deduplicate(DeduplicateOptions<T> options = {}) : options_(std::move(options)) {}

  absl::Status Open(typename Base::RuntimeContext& ctx) override {
    if (options_.retention < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Deduplicate '", ctx.operator_name(), "': negative retention ",
                       absl::FormatDuration(options_.retention)));
    }
    if (options_.conflicts_output && !options_.fingerprint) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Deduplicate '", ctx.operator_name(), "': conflicts_output needs a fingerprint"));
    }
    // StateTtlConfig with ttl 0 = no TTL: ids are kept forever.
    const StateTtlConfig ttl{options_.retention};
    if (options_.fingerprint) {
      ValueStateDescriptor<uint32_t> d(options_.state_name, ttl,
                                       std::make_shared<FoldedFingerprintSerializer>());
      d.expected_keys = options_.expected_ids;
      BROOK_ASSIGN_OR_RETURN(fingerprints_, ctx.GetState(d));
    } else {
      // An empty value type: the state is a set of ids.
      ValueStateDescriptor<std::monostate> d(options_.state_name, ttl);
      d.expected_keys = options_.expected_ids;
      BROOK_ASSIGN_OR_RETURN(seen_, ctx.GetState(d));
    }
    duplicates_ = ctx.metrics().GetCounter("num_duplicates");
    conflicts_ = ctx.metrics().GetCounter("num_conflicting_duplicates");
    return absl::OkStatus();
  }

  absl::Status ProcessElement(const T& value, typename Base::Context& ctx,
                              Collector<T>& out) override {
    return Process(value, ctx, out);
  }
  // The runtime's overload: a kept record is passed on, not copied.
  absl::Status ProcessElement(T&& value, typename Base::Context& ctx,
                              Collector<T>& out) override {
    return Process(std::move(value), ctx, out);
  }

  const DeduplicateOptions<T>& options() const { return options_; }

 private:
  // V: const T& or T (moved from).
  template <typename V>
  absl::Status Process(V&& value, typename Base::Context& ctx, Collector<T>& out) {
    // Keep-first in one hash probe per record: insert if absent.
    if (!options_.fingerprint) {
      if (!seen_.GetOrInsert(std::monostate{}).second) {
        Drop(std::forward<V>(value), ctx, /*conflicting=*/false);
        return absl::OkStatus();
      }
    } else {
      const uint32_t fp = Fold(options_.fingerprint(value));
      if (auto [first, inserted] = fingerprints_.GetOrInsert(fp); !inserted) {
        Drop(std::forward<V>(value), ctx, /*conflicting=*/*first != fp);
        return absl::OkStatus();
      }
    }
    out.Collect(std::forward<V>(value));
    return absl::OkStatus();
  }

  template <typename V>
  void Drop(V&& value, typename Base::Context& ctx, bool conflicting) {
    duplicates_->Inc();
    if (conflicting) {
      conflicts_->Inc();
      if (options_.conflicts_output) {
        ctx.Output(*options_.conflicts_output, std::forward<V>(value));
        return;
      }
    }
    if (options_.duplicates_output) {
      ctx.Output(*options_.duplicates_output, std::forward<V>(value));
    }
  }

  // The fingerprint kept per id: 32 bits, so that an id with its fingerprint
  // and TTL stamp fits a 16-byte slot of the state table.
  static uint32_t Fold(uint64_t fp) { return static_cast<uint32_t>(fp ^ (fp >> 32)); }
  // Checkpoints keep the 8 bytes they always had: a folded fingerprint is
  // written zero-extended, and folding is the identity on it, so a
  // checkpoint that holds full 64-bit fingerprints (written before they were
  // folded) restores to the same folded values.
  class FoldedFingerprintSerializer final : public StateSerializer<uint32_t> {
   public:
    void Serialize(const uint32_t& fp, DataOutputView& out) const override {
      TypeSerializer<uint64_t>::Serialize(fp, out);
    }
    absl::Status Deserialize(DataInputView& in, uint32_t* fp) const override {
      uint64_t stored = 0;
      BROOK_RETURN_IF_ERROR(TypeSerializer<uint64_t>::Deserialize(in, &stored));
      *fp = Fold(stored);
      return absl::OkStatus();
    }
    std::shared_ptr<const StateSerializer<uint32_t>> Duplicate() const override {
      return std::make_shared<FoldedFingerprintSerializer>();
    }
  };

  DeduplicateOptions<T> options_;
  ValueState<std::monostate> seen_;    // without fingerprint
  ValueState<uint32_t> fingerprints_;  // with fingerprint (folded)
  Counter* duplicates_ = nullptr;
  Counter* conflicts_ = nullptr;
};

}  // namespace brook::ops

#endif  // BROOK_OPERATORS_DEDUPLICATE_H_
