// File: brook/connectors/row_schema.h
//
// RowSchema<T>: named, typed columns bound to the fields of a record type T,
// shared by the line formats (CsvFormat, JsonLinesFormat), as Flink's
// flink-csv and flink-json bind a row type to a schema. Columns are found by
// name; a record is filled column by column in schema order, and the first
// problem found is the line's rejection reason.
// Example:
//   struct Trip { int64_t id = 0; std::string city; int64_t line = 0; };
//   auto schema = MakeRowSchema<Trip>(
//                     Int64Field("id", &Trip::id),
//                     StringField("city", &Trip::city, {.allow_empty = false}))
//                     .WithLineNumber(&Trip::line);
//
// A column binds to a data member, or to a setter for nested fields and
// custom conversion (units, ranges): `void(T&, V)`, or `bool(T&, V,
// std::string& reason)` that returns false with a reason to reject the line
// (V is int64_t or std::string_view). Setters are template arguments, so a
// column costs no indirect call per record.
//
// Field rules and reasons (`X` is the column's name, "..." the field's text,
// escaped and cut at 40 bytes):
//   int64:  strict decimal: optional '-', digits only (leading zeros are
//           fine; '+', whitespace or anything else is not):
//             X: not an integer: "..."    (also an empty field)
//             X: integer overflow: "..."
//   string: X: empty                      (when !allow_empty)
//           X: N bytes exceeds M          (when longer than max_bytes)
//
// Thread-safety: a schema is immutable once built; copy it per reader.
#ifndef BROOK_CONNECTORS_ROW_SCHEMA_H_
#define BROOK_CONNECTORS_ROW_SCHEMA_H_

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace brook::connectors {

enum class FieldType { kInt64, kString };

struct StringLimits {
  bool allow_empty = true;
  size_t max_bytes = std::numeric_limits<size_t>::max();
};

// `text` for a message: double-quoted, control bytes, '"' and '\' escaped,
// cut at a character boundary after 40 bytes (then followed by "...").
std::string QuoteForReason(std::string_view text);

namespace internal {
enum class IntParse { kOk, kNotInteger, kOverflow };

// Strict decimal int64: from_chars over the whole text, so '+', whitespace
// and trailing bytes are all "not an integer".
inline IntParse ParseInt64(std::string_view text, int64_t& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::invalid_argument || ptr != end) return IntParse::kNotInteger;
  if (ec == std::errc::result_out_of_range) return IntParse::kOverflow;
  return IntParse::kOk;
}
// "X: not an integer: \"...\"" or "X: integer overflow: \"...\"".
void IntReason(std::string_view column, IntParse result, std::string_view text,
               std::string& reason);

// The field rules above; false with `reason` set (inline: per field).
inline bool ParseInt64Field(std::string_view column, std::string_view text, int64_t& value,
                            std::string& reason) {
  const IntParse result = ParseInt64(text, value);
  if (result == IntParse::kOk) return true;
  IntReason(column, result, text, reason);
  return false;
}
bool CheckStringField(std::string_view column, std::string_view text, const StringLimits& limits,
                      std::string& reason);

// Calls `set` as a member pointer or one of the setter shapes above.
template <typename T, typename V, typename Setter>
bool Assign(const Setter& set, T& record, V value, std::string& reason) {
  if constexpr (std::is_member_object_pointer_v<Setter>) {
    record.*set = value;
    return true;
  } else if constexpr (std::is_invocable_r_v<bool, const Setter&, T&, V, std::string&>) {
    return set(record, value, reason);
  } else {
    set(record, value);
    return true;
  }
}
}  // namespace internal

template <typename T, typename Setter>
class Int64Column {
 public:
  static constexpr FieldType kType = FieldType::kInt64;
  Int64Column(std::string_view name, Setter set) : name_(name), set_(std::move(set)) {}
  std::string_view name() const { return name_; }
  bool Set(T& record, int64_t value, std::string& reason) const {
    return internal::Assign<T, int64_t>(set_, record, value, reason);
  }

 private:
  std::string_view name_;  // must outlive the column (a literal, usually)
  Setter set_;
};

template <typename T, typename Setter>
class StringColumn {
 public:
  static constexpr FieldType kType = FieldType::kString;
  StringColumn(std::string_view name, Setter set, StringLimits limits)
      : name_(name), set_(std::move(set)), limits_(limits) {}
  std::string_view name() const { return name_; }
  // Checks the limits, then stores `text` (a member: assign(), which reuses
  // the string's buffer).
  bool Set(T& record, std::string_view text, std::string& reason) const {
    if (!internal::CheckStringField(name_, text, limits_, reason)) return false;
    if constexpr (std::is_member_object_pointer_v<Setter>) {
      (record.*set_).assign(text);
      return true;
    } else {
      return internal::Assign<T, std::string_view>(set_, record, text, reason);
    }
  }

 private:
  std::string_view name_;
  Setter set_;
  StringLimits limits_;
};

template <typename T>
Int64Column<T, int64_t T::*> Int64Field(std::string_view name, int64_t T::*field) {
  return {name, field};
}
template <typename T, typename Setter>
Int64Column<T, Setter> Int64Field(std::string_view name, Setter set) {
  return {name, std::move(set)};
}
template <typename T>
StringColumn<T, std::string T::*> StringField(std::string_view name, std::string T::*field,
                                              StringLimits limits = {}) {
  return {name, field, limits};
}
template <typename T, typename Setter>
StringColumn<T, Setter> StringField(std::string_view name, Setter set, StringLimits limits = {}) {
  return {name, std::move(set), limits};
}

template <typename T, typename... Columns>
class RowSchema {
 public:
  using Record = T;
  static constexpr size_t kNumColumns = sizeof...(Columns);

  explicit RowSchema(Columns... columns) : columns_(std::move(columns)...) {
    Init(std::index_sequence_for<Columns...>{});
  }

  // Each record gets the 1-based physical line it was read from in `field`
  // (a data member, so no call per record).
  RowSchema WithLineNumber(int64_t T::*field) && {
    line_number_ = field;
    return std::move(*this);
  }

  const std::array<std::string_view, kNumColumns>& names() const { return names_; }
  const std::array<FieldType, kNumColumns>& types() const { return types_; }
  // Calls `f.template operator()<I>(column I)` for each column in schema
  // order while it returns true (a line format fills a record with it);
  // false as soon as one call does.
  template <typename F>
  bool ForEachColumn(F&& f) const {
    return ForEach(f, std::index_sequence_for<Columns...>{});
  }
  void SetLineNumber(T& record, int64_t line_number) const {
    if (line_number_ != nullptr) record.*line_number_ = line_number;
  }

 private:
  template <typename F, size_t... I>
  bool ForEach(F& f, std::index_sequence<I...>) const {
    return (f.template operator()<I>(std::get<I>(columns_)) && ...);
  }
  template <size_t... I>
  void Init(std::index_sequence<I...>) {
    ((names_[I] = std::get<I>(columns_).name(), types_[I] = Columns::kType), ...);
  }

  std::tuple<Columns...> columns_;
  std::array<std::string_view, kNumColumns> names_{};
  std::array<FieldType, kNumColumns> types_{};
  int64_t T::*line_number_ = nullptr;
};

// MakeRowSchema<T>(columns...): the columns in the order their fields are
// checked. Column names must be distinct.
template <typename T, typename... Columns>
RowSchema<T, Columns...> MakeRowSchema(Columns... columns) {
  return RowSchema<T, Columns...>(std::move(columns)...);
}

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_ROW_SCHEMA_H_
