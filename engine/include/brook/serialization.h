// File: brook/serialization.h
//
// How state is turned into bytes for checkpoints and savepoints (DESIGN.md
// §7), as Flink's TypeSerializer / DataOutputView / DataInputView.
//
// Every value held in keyed state, every key of a keyed operator and every
// timer key must have a TypeSerializer<T> when checkpointing is enabled.
// brook provides them for integers, floating point, bool, enums,
// std::string, empty types (std::monostate), std::pair, std::optional,
// std::vector and absl::flat_hash_map/std::map of serializable types. A user
// type gets one by specialising TypeSerializer (as Flink's custom
// serializers):
// Example:
//   template <>
//   struct brook::TypeSerializer<MyEvent> {
//     static void Serialize(const MyEvent& e, brook::DataOutputView& out) {
//       out.WriteInt64(e.id);
//       out.WriteString(e.name);
//     }
//     static absl::Status Deserialize(brook::DataInputView& in, MyEvent* e) {
//       BROOK_RETURN_IF_ERROR(in.ReadInt64(&e->id));
//       return in.ReadString(&e->name);
//     }
//   };
//
// The encoding is little-endian and fixed-width for numbers, length-prefixed
// (varint) for strings and containers. It is versioned by the checkpoint
// file format (checkpoint_storage.h), not per value.
//
// Errors: Deserialize returns absl::DataLossError when the input ends early
// or holds an impossible value (a corrupt snapshot); it never crashes.
// Thread-safety: views are not thread-safe; serializers are stateless.
#ifndef BROOK_SERIALIZATION_H_
#define BROOK_SERIALIZATION_H_

#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "brook/status.h"

namespace brook {

// Appends to a std::string it does not own.
class DataOutputView {
 public:
  explicit DataOutputView(std::string* out) : out_(out) {}

  void WriteBytes(const void* data, size_t n) {
    out_->append(static_cast<const char*>(data), n);
  }
  void WriteUint8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void WriteInt32(int32_t v) { WriteFixed(v); }
  void WriteInt64(int64_t v) { WriteFixed(v); }
  void WriteUint64(uint64_t v) { WriteFixed(v); }
  void WriteDouble(double v) { WriteFixed(v); }
  // LEB128: 1 byte below 128.
  void WriteVarint(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<char>(v));
  }
  void WriteString(std::string_view s) {
    WriteVarint(s.size());
    out_->append(s.data(), s.size());
  }
  size_t size() const { return out_->size(); }
  std::string* buffer() { return out_; }

 private:
  template <typename N>
  void WriteFixed(N v) {
    static_assert(std::endian::native == std::endian::little, "brook assumes little-endian");
    char b[sizeof(N)];
    std::memcpy(b, &v, sizeof(N));
    out_->append(b, sizeof(N));
  }
  std::string* out_;
};

// Reads from bytes it does not own; each Read returns DataLossError (and
// leaves the output unspecified) when the bytes end first.
class DataInputView {
 public:
  explicit DataInputView(std::string_view in) : in_(in) {}

  absl::Status ReadBytes(void* data, size_t n) {
    if (n > in_.size() - pos_) return Underflow(n);
    std::memcpy(data, in_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  absl::Status ReadUint8(uint8_t* v) { return ReadFixed(v); }
  absl::Status ReadInt32(int32_t* v) { return ReadFixed(v); }
  absl::Status ReadInt64(int64_t* v) { return ReadFixed(v); }
  absl::Status ReadUint64(uint64_t* v) { return ReadFixed(v); }
  absl::Status ReadDouble(double* v) { return ReadFixed(v); }
  absl::Status ReadVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return Underflow(1);
      const uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return absl::OkStatus();
      }
    }
    return absl::DataLossError(absl::StrCat("varint longer than 10 bytes at offset ", pos_));
  }
  // A length read from the input, checked against what is left (so that a
  // corrupt length cannot make a reader allocate gigabytes).
  absl::Status ReadLength(size_t* n, size_t min_bytes_each = 1) {
    uint64_t v = 0;
    BROOK_RETURN_IF_ERROR(ReadVarint(&v));
    if (min_bytes_each > 0 && v > (in_.size() - pos_) / min_bytes_each) {
      return absl::DataLossError(
          absl::StrCat("length ", v, " at offset ", pos_, " exceeds the remaining ",
                       in_.size() - pos_, " bytes"));
    }
    *n = static_cast<size_t>(v);
    return absl::OkStatus();
  }
  absl::Status ReadString(std::string* s) {
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(ReadLength(&n));
    s->assign(in_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  // A view of the next `n` bytes (valid as long as the input).
  absl::Status ReadView(size_t n, std::string_view* out) {
    if (n > in_.size() - pos_) return Underflow(n);
    *out = in_.substr(pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  bool AtEnd() const { return pos_ == in_.size(); }
  size_t position() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  template <typename N>
  absl::Status ReadFixed(N* v) {
    return ReadBytes(v, sizeof(N));
  }
  absl::Status Underflow(size_t n) const {
    return absl::DataLossError(absl::StrCat("snapshot data ends at offset ", pos_, " (", n,
                                            " more bytes expected, ", in_.size() - pos_,
                                            " left)"));
  }
  std::string_view in_;
  size_t pos_ = 0;
};

// The primary template has no members: a type without a specialisation is
// not Serializable.
template <typename T, typename Enable = void>
struct TypeSerializer;

template <typename T>
concept Serializable = requires(const T& v, T* p, DataOutputView& out, DataInputView& in) {
  { TypeSerializer<T>::Serialize(v, out) };
  { TypeSerializer<T>::Deserialize(in, p) } -> std::same_as<absl::Status>;
};

// Arithmetic types and enums: their bytes, fixed width.
template <typename T>
struct TypeSerializer<T, std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>>> {
  static void Serialize(const T& v, DataOutputView& out) { out.WriteBytes(&v, sizeof(T)); }
  static absl::Status Deserialize(DataInputView& in, T* v) { return in.ReadBytes(v, sizeof(T)); }
};

// Empty types (std::monostate, tags): nothing.
template <typename T>
struct TypeSerializer<T, std::enable_if_t<std::is_empty_v<T> &&
                                          std::is_default_constructible_v<T>>> {
  static void Serialize(const T&, DataOutputView&) {}
  static absl::Status Deserialize(DataInputView&, T*) { return absl::OkStatus(); }
};

template <>
struct TypeSerializer<std::string> {
  static void Serialize(const std::string& v, DataOutputView& out) { out.WriteString(v); }
  static absl::Status Deserialize(DataInputView& in, std::string* v) { return in.ReadString(v); }
};

template <typename A, typename B>
struct TypeSerializer<std::pair<A, B>> {
  static void Serialize(const std::pair<A, B>& v, DataOutputView& out) {
    TypeSerializer<A>::Serialize(v.first, out);
    TypeSerializer<B>::Serialize(v.second, out);
  }
  static absl::Status Deserialize(DataInputView& in, std::pair<A, B>* v) {
    BROOK_RETURN_IF_ERROR(TypeSerializer<A>::Deserialize(in, &v->first));
    return TypeSerializer<B>::Deserialize(in, &v->second);
  }
};

template <typename T>
struct TypeSerializer<std::optional<T>> {
  static void Serialize(const std::optional<T>& v, DataOutputView& out) {
    out.WriteUint8(v.has_value() ? 1 : 0);
    if (v.has_value()) TypeSerializer<T>::Serialize(*v, out);
  }
  static absl::Status Deserialize(DataInputView& in, std::optional<T>* v) {
    uint8_t present = 0;
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&present));
    if (present > 1) return absl::DataLossError("optional: presence byte is not 0 or 1");
    if (present == 0) {
      v->reset();
      return absl::OkStatus();
    }
    v->emplace();
    return TypeSerializer<T>::Deserialize(in, &**v);
  }
};

template <typename T>
struct TypeSerializer<std::vector<T>> {
  static void Serialize(const std::vector<T>& v, DataOutputView& out) {
    out.WriteVarint(v.size());
    for (const T& e : v) TypeSerializer<T>::Serialize(e, out);
  }
  static absl::Status Deserialize(DataInputView& in, std::vector<T>* v) {
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, std::is_empty_v<T> ? 0 : 1));
    v->clear();
    v->reserve(n);
    for (size_t i = 0; i < n; ++i) {
      BROOK_RETURN_IF_ERROR(TypeSerializer<T>::Deserialize(in, &v->emplace_back()));
    }
    return absl::OkStatus();
  }
};

namespace internal {
template <typename Map>
struct MapSerializer {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  static void Serialize(const Map& m, DataOutputView& out) {
    out.WriteVarint(m.size());
    for (const auto& [k, v] : m) {
      TypeSerializer<K>::Serialize(k, out);
      TypeSerializer<V>::Serialize(v, out);
    }
  }
  static absl::Status Deserialize(DataInputView& in, Map* m) {
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, 0));
    m->clear();
    for (size_t i = 0; i < n; ++i) {
      K k{};
      V v{};
      BROOK_RETURN_IF_ERROR(TypeSerializer<K>::Deserialize(in, &k));
      BROOK_RETURN_IF_ERROR(TypeSerializer<V>::Deserialize(in, &v));
      m->insert_or_assign(std::move(k), std::move(v));
    }
    return absl::OkStatus();
  }
};
}  // namespace internal

template <typename K, typename V, typename H, typename E, typename A>
struct TypeSerializer<absl::flat_hash_map<K, V, H, E, A>>
    : internal::MapSerializer<absl::flat_hash_map<K, V, H, E, A>> {};
template <typename K, typename V, typename C, typename A>
struct TypeSerializer<std::map<K, V, C, A>> : internal::MapSerializer<std::map<K, V, C, A>> {};

// Serialises one value into a new string (convenience for tests and small
// operator state).
template <Serializable T>
std::string SerializeToString(const T& v) {
  std::string s;
  DataOutputView out(&s);
  TypeSerializer<T>::Serialize(v, out);
  return s;
}
// Deserialises one value that must use all of `bytes`.
template <Serializable T>
absl::Status DeserializeFromString(std::string_view bytes, T* v) {
  DataInputView in(bytes);
  BROOK_RETURN_IF_ERROR(TypeSerializer<T>::Deserialize(in, v));
  if (!in.AtEnd()) {
    return absl::DataLossError(absl::StrCat(in.remaining(), " unexpected bytes after the value"));
  }
  return absl::OkStatus();
}

}  // namespace brook

#endif  // BROOK_SERIALIZATION_H_
