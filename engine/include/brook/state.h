// File: brook/state.h
//
// Keyed state, as Flink's: after KeyBy, a function creates state handles from
// named descriptors in Open(), and every access is implicitly scoped to the
// key of the record (or timer) being processed. The descriptor's name
// identifies the state in a checkpoint.
// Example:
//   class CountPerKey : public brook::KeyedProcessFunction<int64_t, Event, Count> {
//    public:
//     absl::Status Open(RuntimeContext& ctx) override {
//       BROOK_ASSIGN_OR_RETURN(count_,
//                              ctx.GetState(brook::ValueStateDescriptor<int64_t>("count")));
//       return absl::OkStatus();
//     }
//     absl::Status ProcessElement(const Event& e, Context& ctx,
//                                 brook::Collector<Count>& out) override {
//       const int64_t* c = count_.Get();
//       count_.Update(c ? *c + 1 : 1);
//       out.Collect({ctx.GetCurrentKey(), *count_.Get()});
//       return absl::OkStatus();
//     }
//
//    private:
//     brook::ValueState<int64_t> count_;
//   };
//
// Retention (StateTtlConfig) is event-time based: an entry written while
// processing a record with timestamp t expires once the watermark reaches
// t + ttl (expired when `last_update_ms + ttl_ms <= watermark`). Expired
// entries are never returned and are removed as the watermark advances, so
// results are deterministic under replay (DESIGN.md §5).
//
// Checkpoints (DESIGN.md §7): keyed state is snapshotted per key group with
// the keys, values and TTL timestamps, so keys and values need a
// brook::TypeSerializer (serialization.h), or the descriptor a custom
// StateSerializer (as Flink's descriptors take a TypeSerializer). A state
// without either still works; only a checkpoint of it fails, with
// kFailedPrecondition naming the state.
//
// Thread-safety: handles belong to one subtask and are used only from its
// thread (the runtime never calls a function concurrently). Pointers returned
// by Get() are valid until the next call on any state of the same function.
#ifndef BROOK_STATE_H_
#define BROOK_STATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "brook/serialization.h"

namespace brook {

// How long state is retained in event time; zero (the default) keeps it
// forever, as Flink's default state TTL.
struct StateTtlConfig {
  absl::Duration ttl = absl::ZeroDuration();
  bool enabled() const { return ttl > absl::ZeroDuration(); }
};

// StateSerializer<V>: a runtime serializer object for the values of one
// state, for values that a static TypeSerializer<V> cannot encode alone (e.g.
// ids only meaningful with a subtask-local dictionary, as Top-K's interned
// items). Set it on a descriptor's `serializer`; it replaces TypeSerializer<V>
// for that state.
//
// Thread-safety: Serialize and Deserialize run on the subtask's thread
// (Deserialize while the function creates the state in Open()). For the
// asynchronous part of a checkpoint the runtime calls Duplicate() in the
// synchronous part and serialises with the copy on a checkpoint I/O thread
// concurrently with the subtask, as Flink's TypeSerializer#duplicate(): the
// copy must capture (or share immutably) whatever mutable context it reads.
// Deserialize returns kDataLoss for bytes that do not decode.
template <typename V>
class StateSerializer {
 public:
  virtual ~StateSerializer() = default;
  virtual void Serialize(const V& value, DataOutputView& out) const = 0;
  virtual absl::Status Deserialize(DataInputView& in, V* value) const = 0;
  virtual std::shared_ptr<const StateSerializer<V>> Duplicate() const = 0;
};

// TypeSerializerAdapter<V>: TypeSerializer<V> as a (stateless) StateSerializer.
template <Serializable V>
class TypeSerializerAdapter final : public StateSerializer<V> {
 public:
  void Serialize(const V& value, DataOutputView& out) const override {
    TypeSerializer<V>::Serialize(value, out);
  }
  absl::Status Deserialize(DataInputView& in, V* value) const override {
    return TypeSerializer<V>::Deserialize(in, value);
  }
  std::shared_ptr<const StateSerializer<V>> Duplicate() const override {
    return std::make_shared<TypeSerializerAdapter<V>>();
  }
};

// Every descriptor's `serializer` is optional (nullptr: TypeSerializer of the
// value type). For MapState it encodes the map values (UV), for ListState the
// elements.
//
// `expected_keys` (optional, 0: none) is a sizing hint: about how many keys
// the state will hold at once across all subtasks of the operator (with a
// TTL, the keys alive at a time). Each subtask then reserves its key groups'
// tables for their share (expected_keys / max parallelism each) when the
// state is created, so they never rehash while growing to it, and places a
// reserved table of 2 MiB and more on transparent huge pages: a table far
// larger than the caches then misses the TLB far less often per probe. It
// changes no semantics; a state that outgrows it grows as usual. Memory is
// taken up front for the hint (the slots are touched as they fill); Get*State
// returns kResourceExhausted when it cannot be allocated.
template <typename V>
struct ValueStateDescriptor {
  explicit ValueStateDescriptor(std::string name, StateTtlConfig ttl = {},
                                std::shared_ptr<const StateSerializer<V>> serializer = nullptr)
      : name(std::move(name)), ttl(ttl), serializer(std::move(serializer)) {}
  std::string name;
  StateTtlConfig ttl;
  std::shared_ptr<const StateSerializer<V>> serializer;
  int64_t expected_keys = 0;  // sizing hint, see above
};

template <typename UK, typename UV>
struct MapStateDescriptor {
  explicit MapStateDescriptor(std::string name, StateTtlConfig ttl = {},
                              std::shared_ptr<const StateSerializer<UV>> serializer = nullptr)
      : name(std::move(name)), ttl(ttl), serializer(std::move(serializer)) {}
  std::string name;
  StateTtlConfig ttl;  // per map entry, as Flink's MapState TTL
  std::shared_ptr<const StateSerializer<UV>> serializer;  // of the map values
  int64_t expected_keys = 0;  // sizing hint, see above
};

template <typename V>
struct ListStateDescriptor {
  explicit ListStateDescriptor(std::string name, StateTtlConfig ttl = {},
                               std::shared_ptr<const StateSerializer<V>> serializer = nullptr)
      : name(std::move(name)), ttl(ttl), serializer(std::move(serializer)) {}
  std::string name;
  StateTtlConfig ttl;  // for the whole list of a key
  std::shared_ptr<const StateSerializer<V>> serializer;  // of the elements
  int64_t expected_keys = 0;  // sizing hint, see above
};

template <typename V>
struct ReducingStateDescriptor {
  ReducingStateDescriptor(std::string name, std::function<V(const V&, const V&)> reduce,
                          StateTtlConfig ttl = {},
                          std::shared_ptr<const StateSerializer<V>> serializer = nullptr)
      : name(std::move(name)), reduce(std::move(reduce)), ttl(ttl),
        serializer(std::move(serializer)) {}
  std::string name;
  std::function<V(const V&, const V&)> reduce;
  StateTtlConfig ttl;
  std::shared_ptr<const StateSerializer<V>> serializer;
  int64_t expected_keys = 0;  // sizing hint, see above
};

namespace internal {
template <typename V>
class ValueStateImpl {
 public:
  virtual ~ValueStateImpl() = default;
  virtual const V* Get() = 0;
  virtual V* GetMutable() = 0;
  virtual void Update(V value) = 0;
  virtual void Clear() = 0;
  // See ValueState::GetOrInsert. The default costs two lookups; the heap
  // backend's tables do it in one.
  virtual std::pair<const V*, bool> GetOrInsert(V value) {
    if (const V* v = Get(); v != nullptr) return {v, false};
    Update(std::move(value));
    return {Get(), true};
  }
};
template <typename UK, typename UV>
class MapStateImpl {
 public:
  virtual ~MapStateImpl() = default;
  virtual const UV* Get(const UK& key) = 0;
  virtual void Put(UK key, UV value) = 0;
  virtual void Remove(const UK& key) = 0;
  virtual void ForEach(absl::FunctionRef<void(const UK&, const UV&)> fn) = 0;
  virtual size_t Size() = 0;
  virtual void Clear() = 0;
};
template <typename V>
class ListStateImpl {
 public:
  virtual ~ListStateImpl() = default;
  virtual const std::vector<V>* Get() = 0;
  virtual void Add(V value) = 0;
  virtual void Update(std::vector<V> values) = 0;
  virtual void Clear() = 0;
};
struct StateAccess;
}  // namespace internal

// ValueState<V>: one value per key. With an empty V (std::monostate: a
// "seen" flag) the heap backend stores only the keys, as a set.
template <typename V>
class ValueState {
 public:
  ValueState() = default;
  // The current key's value, or nullptr when it has none (or it expired).
  const V* Get() const { return impl_->Get(); }
  // As Get(), but mutable in place; changing it does not refresh its TTL.
  V* GetMutable() { return impl_->GetMutable(); }
  // Sets the current key's value (and refreshes its TTL timestamp).
  void Update(V value) { impl_->Update(std::move(value)); }
  void Clear() { impl_->Clear(); }
  // Insert-if-absent in one hash lookup (what Get() then Update() do in
  // two): when the current key has a live value, returns it and false;
  // otherwise stores `value` (with a fresh TTL timestamp, as Update) and
  // returns it and true. The pointer follows Get()'s validity rule; on an
  // insert it may be null when the value is expired already (its record's
  // timestamp + ttl <= the watermark).
  std::pair<const V*, bool> GetOrInsert(V value) { return impl_->GetOrInsert(std::move(value)); }

 private:
  friend struct internal::StateAccess;
  explicit ValueState(internal::ValueStateImpl<V>* impl) : impl_(impl) {}
  internal::ValueStateImpl<V>* impl_ = nullptr;
};

// MapState<UK, UV>: a map per key. UK must be hashable with absl::Hash.
template <typename UK, typename UV>
class MapState {
 public:
  MapState() = default;
  const UV* Get(const UK& key) const { return impl_->Get(key); }
  bool Contains(const UK& key) const { return impl_->Get(key) != nullptr; }
  void Put(UK key, UV value) { impl_->Put(std::move(key), std::move(value)); }
  void Remove(const UK& key) { impl_->Remove(key); }
  // Visits the current key's entries in unspecified order; the map must not be
  // modified during the visit.
  void ForEach(absl::FunctionRef<void(const UK&, const UV&)> fn) const { impl_->ForEach(fn); }
  size_t Size() const { return impl_->Size(); }
  bool IsEmpty() const { return impl_->Size() == 0; }
  void Clear() { impl_->Clear(); }

 private:
  friend struct internal::StateAccess;
  explicit MapState(internal::MapStateImpl<UK, UV>* impl) : impl_(impl) {}
  internal::MapStateImpl<UK, UV>* impl_ = nullptr;
};

// ListState<V>: a list per key, in insertion order.
template <typename V>
class ListState {
 public:
  ListState() = default;
  // The current key's list, or nullptr when it has none.
  const std::vector<V>* Get() const { return impl_->Get(); }
  void Add(V value) { impl_->Add(std::move(value)); }
  void Update(std::vector<V> values) { impl_->Update(std::move(values)); }
  void Clear() { impl_->Clear(); }

 private:
  friend struct internal::StateAccess;
  explicit ListState(internal::ListStateImpl<V>* impl) : impl_(impl) {}
  internal::ListStateImpl<V>* impl_ = nullptr;
};

// ReducingState<V>: Add() folds values with the descriptor's reduce function.
template <typename V>
class ReducingState {
 public:
  ReducingState() = default;
  const V* Get() const { return impl_->Get(); }
  void Add(V value) {
    const V* current = impl_->Get();
    impl_->Update(current ? reduce_(*current, value) : std::move(value));
  }
  void Clear() { impl_->Clear(); }

 private:
  friend struct internal::StateAccess;
  ReducingState(internal::ValueStateImpl<V>* impl, std::function<V(const V&, const V&)> reduce)
      : impl_(impl), reduce_(std::move(reduce)) {}
  internal::ValueStateImpl<V>* impl_ = nullptr;
  std::function<V(const V&, const V&)> reduce_;
};

namespace internal {
// How the runtime makes state handles (their constructors are private, as
// LevelDB's WriteBatchInternal keeps WriteBatch's internals out of its API).
struct StateAccess {
  template <typename V>
  static ValueState<V> Value(ValueStateImpl<V>* impl) {
    return ValueState<V>(impl);
  }
  template <typename UK, typename UV>
  static MapState<UK, UV> Map(MapStateImpl<UK, UV>* impl) {
    return MapState<UK, UV>(impl);
  }
  template <typename V>
  static ListState<V> List(ListStateImpl<V>* impl) {
    return ListState<V>(impl);
  }
  template <typename V>
  static ReducingState<V> Reducing(ValueStateImpl<V>* impl,
                                   std::function<V(const V&, const V&)> reduce) {
    return ReducingState<V>(impl, std::move(reduce));
  }
};
}  // namespace internal

}  // namespace brook

#endif  // BROOK_STATE_H_
