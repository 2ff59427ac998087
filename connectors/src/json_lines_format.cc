// File: connectors/src/json_lines_format.cc
#include "brook/connectors/json_lines_format.h"

#include <algorithm>
#include <utility>

#include "fmt/format.h"
#include "simdjson.h"

namespace brook::connectors {
namespace {

std::string_view TypeName(JsonValue::Type type) {
  switch (type) {
    case JsonValue::Type::kArray:
      return "array";
    case JsonValue::Type::kObject:
      return "object";
    case JsonValue::Type::kInt64:
    case JsonValue::Type::kUint64:
      return "integer";
    case JsonValue::Type::kDouble:
      return "floating-point number";
    case JsonValue::Type::kString:
      return "string";
    case JsonValue::Type::kBool:
      return "bool";
    case JsonValue::Type::kNull:
      return "null";
  }
  return "unknown";
}

JsonValue::Type TypeOf(simdjson::dom::element_type type) {
  using simdjson::dom::element_type;
  switch (type) {
    case element_type::ARRAY:
      return JsonValue::Type::kArray;
    case element_type::OBJECT:
      return JsonValue::Type::kObject;
    case element_type::INT64:
      return JsonValue::Type::kInt64;
    case element_type::UINT64:
      return JsonValue::Type::kUint64;
    case element_type::DOUBLE:
      return JsonValue::Type::kDouble;
    case element_type::STRING:
      return JsonValue::Type::kString;
    case element_type::BOOL:
      return JsonValue::Type::kBool;
    case element_type::NULL_VALUE:
      return JsonValue::Type::kNull;
  }
  return JsonValue::Type::kNull;
}

}  // namespace

struct JsonObjectParser::Impl {
  // simdjson's DOM fails a whole document on an integer that does not fit in
  // 64 bits. Walk the line again, lazily, to name an int64 column that holds
  // one; false when none does (the number error is elsewhere).
  bool NameHugeInteger(std::string_view text, std::span<const std::string_view> names,
                       std::span<const FieldType> types, std::string& reason) {
    simdjson::ondemand::document doc;
    if (lazy_parser.iterate(text.data(), text.size(), text.size() + simdjson::SIMDJSON_PADDING)
            .get(doc)) {
      return false;
    }
    simdjson::ondemand::object object;
    if (doc.get_object().get(object)) return false;
    for (auto field_result : object) {
      simdjson::ondemand::field field;
      std::string_view key;
      if (std::move(field_result).get(field) || field.unescaped_key().get(key)) return false;
      const auto name = std::find(names.begin(), names.end(), key);
      if (name == names.end() || types[name - names.begin()] != FieldType::kInt64) continue;
      std::string_view token = field.value().raw_json_token();
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t' ||
                                token.back() == '\r' || token.back() == '\n')) {
        token.remove_suffix(1);
      }
      int64_t ignored = 0;
      if (internal::ParseInt64(token, ignored) != internal::IntParse::kOverflow) continue;
      internal::IntReason(*name, internal::IntParse::kOverflow, token, reason);
      return true;
    }
    return false;
  }

  simdjson::dom::parser parser;
  simdjson::ondemand::parser lazy_parser;
};

JsonObjectParser::JsonObjectParser() : impl_(std::make_unique<Impl>()) {}
JsonObjectParser::JsonObjectParser(JsonObjectParser&&) noexcept = default;
JsonObjectParser& JsonObjectParser::operator=(JsonObjectParser&&) noexcept = default;
JsonObjectParser::~JsonObjectParser() = default;

bool JsonObjectParser::Parse(std::string_view text, std::span<const std::string_view> names,
                             std::span<const FieldType> types, std::span<JsonValue> values,
                             std::string& reason) {
  simdjson::dom::element doc;
  // The line lies in LineReader's buffer, which has kLinePadding bytes to
  // spare after any line, so simdjson can parse it without a copy.
  const auto error =
      impl_->parser.parse(text.data(), text.size(), /*realloc_if_needed=*/false).get(doc);
  if (error) {
    if (error != simdjson::NUMBER_ERROR || !impl_->NameHugeInteger(text, names, types, reason)) {
      reason = fmt::format("invalid JSON: {}", simdjson::error_message(error));
    }
    return false;
  }
  simdjson::dom::object object;
  if (doc.get(object)) {
    reason = fmt::format("invalid JSON: expected an object, got {}", TypeName(TypeOf(doc.type())));
    return false;
  }
  for (size_t c = 0; c < names.size(); ++c) {
    simdjson::dom::element element;
    if (object.at_key(names[c]).get(element)) {
      reason = fmt::format("missing field: {}", names[c]);
      return false;
    }
    JsonValue& v = values[c];
    v.type = TypeOf(element.type());
    switch (v.type) {
      case JsonValue::Type::kInt64:
        v.int64 = element.get_int64().value_unsafe();
        break;
      case JsonValue::Type::kUint64:
        v.uint64 = element.get_uint64().value_unsafe();
        break;
      case JsonValue::Type::kString:
        v.string = element.get_string().value_unsafe();
        break;
      default:
        break;
    }
  }
  return true;
}

namespace internal {

void JsonTypeReason(std::string_view column, FieldType wanted, const JsonValue& value,
                    std::string& reason) {
  if (wanted == FieldType::kInt64 && value.type == JsonValue::Type::kUint64) {
    reason = fmt::format("{}: integer overflow: \"{}\"", column, value.uint64);
    return;
  }
  reason = fmt::format("{}: expected {}, got {}", column,
                       wanted == FieldType::kInt64 ? "integer" : "string", TypeName(value.type));
}

}  // namespace internal
}  // namespace brook::connectors
