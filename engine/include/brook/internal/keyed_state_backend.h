// File: brook/internal/keyed_state_backend.h  (internal: not part of the API)
//
// The heap keyed-state backend: every state table keeps one Abseil hash map
// per key group owned by the subtask, so a snapshot can be cut and restored by
// key group. The backend holds the current key (set by the operator before
// each record or timer) and the current event time used for TTL.
#ifndef BROOK_INTERNAL_KEYED_STATE_BACKEND_H_
#define BROOK_INTERNAL_KEYED_STATE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "brook/key_group.h"
#include "brook/state.h"
#include "brook/time.h"

namespace brook::internal {

// The current key, key group and time, shared by a subtask's state tables.
template <typename K>
struct KeyContext {
  const K* key = nullptr;
  int key_group_index = 0;  // key group - range.start
  int64_t timestamp_ms = 0;  // of the record or timer being processed
  int64_t watermark_ms = kMinTimestampMs;
};

class StateTableBase {
 public:
  virtual ~StateTableBase() = default;
  // Drops entries whose TTL has passed at `watermark_ms`.
  virtual void ExpireUpTo(int64_t watermark_ms) = 0;
  virtual int64_t NumEntries() const = 0;
  // Heap bytes held by the tables (slots and control bytes; not memory the
  // values themselves point to).
  virtual int64_t ApproxBytes() const = 0;
  virtual bool has_ttl() const = 0;
};

template <typename V>
struct Stamped {
  V value;
  int64_t last_update_ms;
};

template <typename Map>
int64_t MapBytes(const Map& m) {
  using Slot = typename Map::value_type;
  return static_cast<int64_t>(m.capacity()) * static_cast<int64_t>(sizeof(Slot) + 1);
}

inline bool Expired(int64_t last_update_ms, int64_t ttl_ms, int64_t watermark_ms) {
  return SaturatingAdd(last_update_ms, ttl_ms) <= watermark_ms;
}

// Per-key-group tables of Entry, with the bookkeeping common to all kinds.
template <typename K, typename Entry, typename Table = absl::flat_hash_map<K, Entry>>
class KeyGroupedTable : public StateTableBase {
 public:
  KeyGroupedTable(KeyContext<K>* ctx, int num_key_groups, int64_t ttl_ms)
      : ctx_(ctx), tables_(num_key_groups), ttl_ms_(ttl_ms) {}

  int64_t NumEntries() const override {
    int64_t n = 0;
    for (const auto& t : tables_) n += static_cast<int64_t>(t.size());
    return n;
  }
  int64_t ApproxBytes() const override {
    int64_t n = 0;
    for (const auto& t : tables_) n += MapBytes(t);
    return n;
  }
  bool has_ttl() const override { return ttl_ms_ > 0; }

 protected:
  Table& table() { return tables_[ctx_->key_group_index]; }
  const K& key() const { return *ctx_->key; }
  bool IsExpired(int64_t last_update_ms) const {
    return ttl_ms_ > 0 && Expired(last_update_ms, ttl_ms_, ctx_->watermark_ms);
  }

  KeyContext<K>* ctx_;
  std::vector<Table> tables_;
  int64_t ttl_ms_;
};

template <typename K, typename V, bool kTtl>
class HeapValueState final
    : public KeyGroupedTable<K, std::conditional_t<kTtl, Stamped<V>, V>>,
      public ValueStateImpl<V> {
  using Base = KeyGroupedTable<K, std::conditional_t<kTtl, Stamped<V>, V>>;

 public:
  using Base::Base;

  const V* Get() override { return GetMutable(); }
  V* GetMutable() override {
    auto& t = this->table();
    auto it = t.find(this->key());
    if (it == t.end()) return nullptr;
    if constexpr (kTtl) {
      if (this->IsExpired(it->second.last_update_ms)) {
        t.erase(it);
        return nullptr;
      }
      return &it->second.value;
    } else {
      return &it->second;
    }
  }
  void Update(V value) override {
    if constexpr (kTtl) {
      this->table().insert_or_assign(
          this->key(), Stamped<V>{std::move(value), this->ctx_->timestamp_ms});
    } else {
      this->table().insert_or_assign(this->key(), std::move(value));
    }
  }
  void Clear() override { this->table().erase(this->key()); }
  void ExpireUpTo(int64_t watermark_ms) override {
    if constexpr (kTtl) {
      for (auto& t : this->tables_) {
        absl::erase_if(t, [&](const auto& kv) {
          return Expired(kv.second.last_update_ms, this->ttl_ms_, watermark_ms);
        });
      }
    }
  }
};

// ValueState<V> of an empty V (e.g. std::monostate, a "seen" flag): all
// values are equal, so only the keys are stored: a set of keys, or with TTL a
// map key -> last update (8 bytes per slot less than HeapValueState).
template <typename K, typename V, bool kTtl>
class HeapKeySetState final
    : public KeyGroupedTable<K, int64_t,
                             std::conditional_t<kTtl, absl::flat_hash_map<K, int64_t>,
                                                absl::flat_hash_set<K>>>,
      public ValueStateImpl<V> {
  using Base = KeyGroupedTable<
      K, int64_t,
      std::conditional_t<kTtl, absl::flat_hash_map<K, int64_t>, absl::flat_hash_set<K>>>;

 public:
  using Base::Base;

  const V* Get() override { return GetMutable(); }
  V* GetMutable() override {
    auto& t = this->table();
    auto it = t.find(this->key());
    if (it == t.end()) return nullptr;
    if constexpr (kTtl) {
      if (this->IsExpired(it->second)) {
        t.erase(it);
        return nullptr;
      }
    }
    return &value_;
  }
  void Update(V /*value*/) override {
    if constexpr (kTtl) {
      this->table().insert_or_assign(this->key(), this->ctx_->timestamp_ms);
    } else {
      this->table().insert(this->key());
    }
  }
  void Clear() override { this->table().erase(this->key()); }
  void ExpireUpTo(int64_t watermark_ms) override {
    if constexpr (kTtl) {
      for (auto& t : this->tables_) {
        absl::erase_if(t, [&](const auto& kv) {
          return Expired(kv.second, this->ttl_ms_, watermark_ms);
        });
      }
    }
  }

 private:
  V value_{};  // the value of every present key
};

template <typename K, typename UK, typename UV>
class HeapMapState final : public KeyGroupedTable<K, absl::flat_hash_map<UK, Stamped<UV>>>,
                           public MapStateImpl<UK, UV> {
  using Base = KeyGroupedTable<K, absl::flat_hash_map<UK, Stamped<UV>>>;

 public:
  using Base::Base;

  const UV* Get(const UK& user_key) override {
    auto& t = this->table();
    auto it = t.find(this->key());
    if (it == t.end()) return nullptr;
    auto jt = it->second.find(user_key);
    if (jt == it->second.end()) return nullptr;
    if (this->IsExpired(jt->second.last_update_ms)) {
      it->second.erase(jt);
      if (it->second.empty()) t.erase(it);
      return nullptr;
    }
    return &jt->second.value;
  }
  void Put(UK user_key, UV value) override {
    this->table()[this->key()].insert_or_assign(
        std::move(user_key), Stamped<UV>{std::move(value), this->ctx_->timestamp_ms});
  }
  void Remove(const UK& user_key) override {
    auto& t = this->table();
    auto it = t.find(this->key());
    if (it == t.end()) return;
    it->second.erase(user_key);
    if (it->second.empty()) t.erase(it);
  }
  void ForEach(absl::FunctionRef<void(const UK&, const UV&)> fn) override {
    auto& t = this->table();
    auto it = t.find(this->key());
    if (it == t.end()) return;
    for (const auto& [k, v] : it->second) {
      if (!this->IsExpired(v.last_update_ms)) fn(k, v.value);
    }
  }
  size_t Size() override {
    auto& t = this->table();
    auto it = t.find(this->key());
    if (it == t.end()) return 0;
    size_t n = 0;
    for (const auto& [k, v] : it->second) n += this->IsExpired(v.last_update_ms) ? 0 : 1;
    return n;
  }
  void Clear() override { this->table().erase(this->key()); }
  void ExpireUpTo(int64_t watermark_ms) override {
    if (this->ttl_ms_ <= 0) return;
    for (auto& t : this->tables_) {
      absl::erase_if(t, [&](auto& kv) {
        absl::erase_if(kv.second, [&](const auto& e) {
          return Expired(e.second.last_update_ms, this->ttl_ms_, watermark_ms);
        });
        return kv.second.empty();
      });
    }
  }
  int64_t NumEntries() const override {
    int64_t n = 0;
    for (const auto& t : this->tables_) {
      for (const auto& [k, m] : t) n += static_cast<int64_t>(m.size());
    }
    return n;
  }
  int64_t ApproxBytes() const override {
    int64_t n = Base::ApproxBytes();
    for (const auto& t : this->tables_) {
      for (const auto& [k, m] : t) n += MapBytes(m);
    }
    return n;
  }
};

template <typename K, typename V>
class HeapListState final : public KeyGroupedTable<K, Stamped<std::vector<V>>>,
                            public ListStateImpl<V> {
  using Base = KeyGroupedTable<K, Stamped<std::vector<V>>>;

 public:
  using Base::Base;

  const std::vector<V>* Get() override {
    auto& t = this->table();
    auto it = t.find(this->key());
    if (it == t.end()) return nullptr;
    if (this->IsExpired(it->second.last_update_ms)) {
      t.erase(it);
      return nullptr;
    }
    return &it->second.value;
  }
  void Add(V value) override {
    auto& e = this->table()[this->key()];
    if (this->IsExpired(e.last_update_ms)) e.value.clear();
    e.value.push_back(std::move(value));
    e.last_update_ms = this->ctx_->timestamp_ms;
  }
  void Update(std::vector<V> values) override {
    if (values.empty()) {
      Clear();
      return;
    }
    this->table().insert_or_assign(
        this->key(), Stamped<std::vector<V>>{std::move(values), this->ctx_->timestamp_ms});
  }
  void Clear() override { this->table().erase(this->key()); }
  void ExpireUpTo(int64_t watermark_ms) override {
    if (this->ttl_ms_ <= 0) return;
    for (auto& t : this->tables_) {
      absl::erase_if(t, [&](const auto& kv) {
        return Expired(kv.second.last_update_ms, this->ttl_ms_, watermark_ms);
      });
    }
  }
};

// All keyed state of one operator subtask.
template <typename K>
class HeapKeyedStateBackend {
 public:
  explicit HeapKeyedStateBackend(KeyGroupRange range) : range_(range) {}

  KeyContext<K>& context() { return ctx_; }
  const KeyGroupRange& key_group_range() const { return range_; }

  template <typename V>
  absl::StatusOr<ValueStateImpl<V>*> GetValueState(const std::string& name,
                                                   const StateTtlConfig& ttl) {
    return GetOrCreate<ValueStateImpl<V>>(name, ttl, [&]() -> std::unique_ptr<StateTableBase> {
      if constexpr (std::is_empty_v<V> && std::is_default_constructible_v<V>) {
        if (ttl.enabled()) {
          return std::make_unique<HeapKeySetState<K, V, true>>(&ctx_, range_.size(),
                                                              ToMillis(ttl.ttl));
        }
        return std::make_unique<HeapKeySetState<K, V, false>>(&ctx_, range_.size(), 0);
      }
      if (ttl.enabled()) {
        return std::make_unique<HeapValueState<K, V, true>>(&ctx_, range_.size(), ToMillis(ttl.ttl));
      }
      return std::make_unique<HeapValueState<K, V, false>>(&ctx_, range_.size(), 0);
    });
  }
  template <typename UK, typename UV>
  absl::StatusOr<MapStateImpl<UK, UV>*> GetMapState(const std::string& name,
                                                    const StateTtlConfig& ttl) {
    return GetOrCreate<MapStateImpl<UK, UV>>(name, ttl, [&] {
      return std::make_unique<HeapMapState<K, UK, UV>>(&ctx_, range_.size(),
                                                       ttl.enabled() ? ToMillis(ttl.ttl) : 0);
    });
  }
  template <typename V>
  absl::StatusOr<ListStateImpl<V>*> GetListState(const std::string& name,
                                                 const StateTtlConfig& ttl) {
    return GetOrCreate<ListStateImpl<V>>(name, ttl, [&] {
      return std::make_unique<HeapListState<K, V>>(&ctx_, range_.size(),
                                                   ttl.enabled() ? ToMillis(ttl.ttl) : 0);
    });
  }

  // Called as the watermark advances: TTL cleanup. A full sweep costs O(state),
  // so it runs only once the watermark has moved by half the shortest TTL
  // since the last sweep (expired entries are invisible to reads meanwhile).
  void AdvanceWatermark(int64_t watermark_ms) {
    ctx_.watermark_ms = watermark_ms;
    if (min_ttl_ms_ == 0) return;
    if (last_sweep_ms_ != kMinTimestampMs &&
        watermark_ms != kMaxWatermarkMs &&
        watermark_ms - last_sweep_ms_ < std::max<int64_t>(1, min_ttl_ms_ / 2)) {
      return;
    }
    last_sweep_ms_ = watermark_ms;
    for (auto& [name, table] : tables_) {
      if (table->has_ttl()) table->ExpireUpTo(watermark_ms);
    }
  }

  int64_t NumEntries() const {
    int64_t n = 0;
    for (const auto& [name, t] : tables_) n += t->NumEntries();
    return n;
  }
  int64_t ApproxBytes() const {
    int64_t n = 0;
    for (const auto& [name, t] : tables_) n += t->ApproxBytes();
    return n;
  }

 private:
  template <typename Impl, typename Make>
  absl::StatusOr<Impl*> GetOrCreate(const std::string& name, const StateTtlConfig& ttl,
                                    Make make) {
    auto it = tables_.find(name);
    if (it == tables_.end()) {
      it = tables_.emplace(name, make()).first;
      if (ttl.enabled()) {
        const int64_t t = ToMillis(ttl.ttl);
        min_ttl_ms_ = min_ttl_ms_ == 0 ? t : std::min(min_ttl_ms_, t);
      }
    }
    auto* impl = dynamic_cast<Impl*>(it->second.get());
    if (impl == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "state '", name, "' was already created with another kind or type"));
    }
    return impl;
  }

  KeyGroupRange range_;
  KeyContext<K> ctx_;
  absl::flat_hash_map<std::string, std::unique_ptr<StateTableBase>> tables_;
  int64_t min_ttl_ms_ = 0;
  int64_t last_sweep_ms_ = kMinTimestampMs;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_KEYED_STATE_BACKEND_H_
