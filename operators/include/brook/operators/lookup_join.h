// File: brook/operators/lookup_join.h
//
// LookupJoin: joins each record of a stream with a static table (a dimension
// table such as "locations"), loaded once before the job and shared
// read-only by every subtask. Flink's analogue is a lookup join against a
// fully cached table, or a broadcast of a bounded side input; here the table
// is simply immutable, so sharing it needs no broadcast state and no locks.
// Example:
//   using LocationTable = brook::ops::LookupTable<int64_t, Location>;
//   BROOK_ASSIGN_OR_RETURN(auto locations,
//                          LocationTable::Create(std::move(location_rows),
//                                                &Location::geographical_location_oid));
//   brook::OutputTag<brook::ops::JoinMiss<Detection>> misses("unknown-locations");
//   auto enriched = detections.Process(
//       brook::ops::MakeLookupJoin<Detection, Enriched>(
//           locations, &Detection::geographical_location_oid,
//           [](const Detection& d, const Location* l) { return Enriched{d, l->name}; },
//           {.misses_output = misses, .key_name = "geographical_location_oid"}),
//       "join-location");
//   enriched.GetSideOutput(misses).SinkTo(dead_letters, "unknown-locations");
//
// Semantics:
//  - JoinType::kInner: a record whose key is in the table is emitted as
//    join(record, &row), with the record's timestamp. A record whose key is
//    missing (a "join miss") is counted in `num_join_misses` and sent to
//    `misses_output` as JoinMiss{record, reason} when that tag is set; else it
//    is dropped (still counted, never silently).
//  - JoinType::kLeftOuter: every record is emitted, as join(record, nullptr)
//    when its key is missing; misses are counted in `num_join_misses` too,
//    and nothing goes to the side output.
//  - The reason is miss_reason(record, key) when given, else
//    "unknown <key_name> <key>" (e.g. "unknown geographical_location_oid 123").
//
// Sharing: the function holds a std::shared_ptr<const LookupTable>; the
// runtime copies the function once per subtask and every copy points at the
// same table (one copy in memory, whatever the parallelism). The table is
// never modified after Create(), so concurrent reads from subtask threads
// are safe.
//
// Metrics (per subtask): num_join_misses (counter), table_rows (gauge).
//
// Errors: LookupTable::Create() returns kInvalidArgument for a duplicate key
// (naming the key and both row positions). Open() returns kInvalidArgument
// when the table, key function or join function is missing.
#ifndef BROOK_OPERATORS_LOOKUP_JOIN_H_
#define BROOK_OPERATORS_LOOKUP_JOIN_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "brook/functions.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"

namespace brook::ops {

namespace lookup_join_internal {
// A key as text for messages: anything absl::StrCat accepts (integers,
// strings, floating point), else a placeholder.
template <typename K>
std::string KeyToString(const K& key) {
  if constexpr (requires { absl::StrCat(key); }) {
    return absl::StrCat(key);
  } else {
    return "<key>";
  }
}
}  // namespace lookup_join_internal

// LookupTable<Key, Row>: an immutable hash table of rows by key. Key must be
// hashable with absl::Hash and equality-comparable. Thread-safe for
// concurrent reads (it is const after Create()).
template <typename Key, typename Row>
class LookupTable {
 public:
  // LookupTable::Create(): indexes `rows` by key_fn(row) (a callable or a
  // member pointer). Returns kInvalidArgument when two rows share a key.
  template <typename KeyFn>
  static absl::StatusOr<std::shared_ptr<const LookupTable>> Create(std::vector<Row> rows,
                                                                   KeyFn key_fn) {
    std::shared_ptr<LookupTable> table(new LookupTable());
    table->rows_ = std::move(rows);
    table->index_.reserve(table->rows_.size());
    for (size_t i = 0; i < table->rows_.size(); ++i) {
      Key key = std::invoke(key_fn, static_cast<const Row&>(table->rows_[i]));
      auto [it, inserted] = table->index_.try_emplace(std::move(key), i);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(
            "lookup table: duplicate key ", lookup_join_internal::KeyToString(it->first),
            " (rows ", it->second, " and ", i, ", counted from 0)"));
      }
    }
    return std::shared_ptr<const LookupTable>(std::move(table));
  }

  // The row with `key`, or nullptr. The pointer lives as long as the table.
  const Row* Find(const Key& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &rows_[it->second];
  }
  size_t size() const { return rows_.size(); }
  // The rows, in the order given to Create().
  const std::vector<Row>& rows() const { return rows_; }

 private:
  LookupTable() = default;
  std::vector<Row> rows_;
  absl::flat_hash_map<Key, size_t> index_;  // key -> position in rows_
};

enum class JoinType { kInner, kLeftOuter };

// A record that found no row (inner join), with why.
template <typename T>
struct JoinMiss {
  T record;
  std::string reason;

  friend bool operator==(const JoinMiss&, const JoinMiss&) = default;
};

template <typename T, typename Key>
struct LookupJoinOptions {
  JoinType join_type = JoinType::kInner;
  // Inner join only: where misses go. Unset: dropped and counted.
  std::optional<OutputTag<JoinMiss<T>>> misses_output = std::nullopt;
  // The key's name in the default reason ("unknown <key_name> <key>").
  std::string key_name = "key";
  // Optional: the reason text of a miss; overrides the default.
  std::function<std::string(const T&, const Key&)> miss_reason = nullptr;
};

// LookupJoin<T, Out, Key, Row>: a ProcessFunction<T, Out> (non-keyed; use it
// on any stream). Prefer MakeLookupJoin(), which deduces Key and Row.
template <typename T, typename Out, typename Key, typename Row>
class LookupJoin final : public ProcessFunction<T, Out> {
  using Base = ProcessFunction<T, Out>;

 public:
  using Table = LookupTable<Key, Row>;
  using KeyFn = std::function<Key(const T&)>;
  // `join(record, row)`; row is nullptr only for kLeftOuter misses. The
  // record is an rvalue: a join that keeps it may move it into its result
  // ([](T&& t, const Row* r) { return Out{std::move(t), r}; }); one taking
  // `const T&` works as well.
  using JoinFn = std::function<Out(T&&, const Row*)>;

  LookupJoin(std::shared_ptr<const Table> table, KeyFn key_fn, JoinFn join_fn,
             LookupJoinOptions<T, Key> options = {})
      : table_(std::move(table)),
        key_fn_(std::move(key_fn)),
        join_fn_(std::move(join_fn)),
        options_(std::move(options)) {}

  absl::Status Open(RuntimeContext& ctx) override {
    if (table_ == nullptr || !key_fn_ || !join_fn_) {
      return absl::InvalidArgumentError(
          absl::StrCat("LookupJoin '", ctx.operator_name(), "': ",
                       table_ == nullptr ? "no table" : !key_fn_ ? "no key function"
                                                                 : "no join function"));
    }
    misses_ = ctx.metrics().GetCounter("num_join_misses");
    ctx.metrics().GetGauge("table_rows")->Set(static_cast<int64_t>(table_->size()));
    return absl::OkStatus();
  }

  absl::Status ProcessElement(const T& value, typename Base::Context& ctx,
                              Collector<Out>& out) override {
    return ProcessElement(T(value), ctx, out);
  }
  // The runtime's overload: the record moves into the join function (and
  // into a JoinMiss), never copied.
  absl::Status ProcessElement(T&& value, typename Base::Context& ctx,
                              Collector<Out>& out) override {
    const Key key = key_fn_(value);
    const Row* row = table_->Find(key);
    if (row == nullptr) {
      misses_->Inc();
      if (options_.join_type == JoinType::kInner) {
        if (options_.misses_output) {
          std::string reason = Reason(value, key);
          ctx.Output(*options_.misses_output, JoinMiss<T>{std::move(value), std::move(reason)});
        }
        return absl::OkStatus();
      }
    }
    out.Collect(join_fn_(std::move(value), row));
    return absl::OkStatus();
  }

  // The shared table (the same pointer in every copy of this function).
  const std::shared_ptr<const Table>& table() const { return table_; }

 private:
  std::string Reason(const T& value, const Key& key) const {
    if (options_.miss_reason) return options_.miss_reason(value, key);
    return absl::StrCat("unknown ", options_.key_name, " ",
                        lookup_join_internal::KeyToString(key));
  }

  std::shared_ptr<const Table> table_;
  KeyFn key_fn_;
  JoinFn join_fn_;
  LookupJoinOptions<T, Key> options_;
  Counter* misses_ = nullptr;
};

// MakeLookupJoin<T, Out>(table, key_fn, join_fn, options): a LookupJoin with
// Key and Row taken from the table. key_fn may be a member pointer
// (&Detection::geographical_location_oid) or any callable T -> Key.
template <typename T, typename Out, typename Key, typename Row, typename KeyFn, typename JoinFn>
LookupJoin<T, Out, Key, Row> MakeLookupJoin(std::shared_ptr<const LookupTable<Key, Row>> table,
                                            KeyFn key_fn, JoinFn join_fn,
                                            LookupJoinOptions<T, Key> options = {}) {
  return LookupJoin<T, Out, Key, Row>(
      std::move(table),
      [key_fn = std::move(key_fn)](const T& v) -> Key { return std::invoke(key_fn, v); },
      std::move(join_fn), std::move(options));
}

}  // namespace brook::ops

#endif  // BROOK_OPERATORS_LOOKUP_JOIN_H_
