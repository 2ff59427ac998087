// File: connectors/src/row_schema.cc
#include "brook/connectors/row_schema.h"

#include <iterator>

#include "fmt/format.h"

namespace brook::connectors {

std::string QuoteForReason(std::string_view text) {
  constexpr size_t kMaxShown = 40;
  const bool cut = text.size() > kMaxShown;
  if (cut) {
    size_t end = kMaxShown;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
      --end;
    }
    text = text.substr(0, end);
  }
  std::string out = "\"";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7F) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    } else {
      out += ch;
    }
  }
  out += cut ? "\"..." : "\"";
  return out;
}

namespace internal {

void IntReason(std::string_view column, IntParse result, std::string_view text,
               std::string& reason) {
  reason = fmt::format("{}: {}: {}", column,
                       result == IntParse::kOverflow ? "integer overflow" : "not an integer",
                       QuoteForReason(text));
}

bool CheckStringField(std::string_view column, std::string_view text, const StringLimits& limits,
                      std::string& reason) {
  if (text.empty() && !limits.allow_empty) {
    reason = fmt::format("{}: empty", column);
    return false;
  }
  if (text.size() > limits.max_bytes) {
    reason = fmt::format("{}: {} bytes exceeds {}", column, text.size(), limits.max_bytes);
    return false;
  }
  return true;
}

}  // namespace internal
}  // namespace brook::connectors
