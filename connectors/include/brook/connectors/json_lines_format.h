// File: brook/connectors/json_lines_format.h
//
// JSON Lines, as Flink's flink-json: JsonLinesFormat<Schema> is a line
// format for FileSource, one JSON object per line holding the schema's
// columns as keys (other keys are ignored). An int64 column wants a JSON
// integer, a string column a JSON string. Parsed by simdjson (kept out of
// this header), in place in LineReader's padded buffer.
//
// Lines first pass CheckLine (line_reader.h); then the reasons are, in order:
//   invalid JSON: <simdjson's message>   (also: expected an object, got T)
//   missing field: X                     (every column, in schema order)
// then per column in schema order:
//   X: expected integer, got T           (T: string, floating-point number,
//   X: expected string, got T             bool, null, array, object, integer)
//   X: integer overflow: "N"             (an integer beyond int64)
// and the column's own rules (row_schema.h).
//
// Thread-safety: a format (its parser) belongs to one reader at a time.
#ifndef BROOK_CONNECTORS_JSON_LINES_FORMAT_H_
#define BROOK_CONNECTORS_JSON_LINES_FORMAT_H_

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "brook/connectors/line_reader.h"
#include "brook/connectors/row_schema.h"

namespace brook::connectors {

// One column's value as found in a JSON object.
struct JsonValue {
  enum class Type { kInt64, kUint64, kDouble, kString, kBool, kNull, kArray, kObject };
  Type type = Type::kNull;
  int64_t int64 = 0;
  uint64_t uint64 = 0;  // kUint64: beyond int64
  std::string_view string;
};

// Parses one line as a JSON object and looks up named keys.
class JsonObjectParser {
 public:
  JsonObjectParser();
  JsonObjectParser(JsonObjectParser&&) noexcept;
  JsonObjectParser& operator=(JsonObjectParser&&) noexcept;
  ~JsonObjectParser();

  // `text` must be followed by kLinePadding readable bytes (a Line's text
  // is). Fills values[i] for names[i], valid until the next call; false with
  // `reason` ("invalid JSON: ...", "missing field: X"). `types` names the
  // int64 columns to look in when simdjson fails on an integer beyond 64 bits.
  bool Parse(std::string_view text, std::span<const std::string_view> names,
             std::span<const FieldType> types, std::span<JsonValue> values, std::string& reason);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace internal {
// Why `value` is not of `column`'s type: "X: expected integer, got T",
// "X: expected string, got T" or "X: integer overflow: \"N\"".
void JsonTypeReason(std::string_view column, FieldType wanted, const JsonValue& value,
                    std::string& reason);
}  // namespace internal

template <typename Schema>
class JsonLinesFormat {
 public:
  using Record = typename Schema::Record;

  explicit JsonLinesFormat(Schema schema) : schema_(std::move(schema)) {}

  // JSON Lines has no header.
  absl::Status ReadHeader(LineReader&) { return absl::OkStatus(); }

  // Parses one line (after CheckLine) into `out`; false with `reason`.
  bool Parse(std::string_view text, int64_t line_number, Record& out, std::string& reason) {
    if (!parser_.Parse(text, schema_.names(), schema_.types(), values_, reason)) return false;
    schema_.SetLineNumber(out, line_number);
    return schema_.ForEachColumn([&]<size_t I>(const auto& column) {
      const JsonValue& value = values_[I];
      constexpr FieldType kType = std::decay_t<decltype(column)>::kType;
      if constexpr (kType == FieldType::kInt64) {
        if (value.type == JsonValue::Type::kInt64) return column.Set(out, value.int64, reason);
      } else {
        if (value.type == JsonValue::Type::kString) return column.Set(out, value.string, reason);
      }
      internal::JsonTypeReason(column.name(), kType, value, reason);
      return false;
    });
  }

 private:
  Schema schema_;
  JsonObjectParser parser_;
  std::array<JsonValue, Schema::kNumColumns> values_{};
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_JSON_LINES_FORMAT_H_
