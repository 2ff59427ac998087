// File: connectors/src/csv_format.cc
//
// CSV lines without a '"' (nearly all real ones) are split on ',' with
// memchr; only lines with a quote go through libcsv, in strict mode, so that
// RFC 4180 quoting is handled by a tested parser while the common case stays
// fast. Both paths give the same fields because libcsv is told that no byte
// is a space (it would trim them) and no byte ends a record (LineReader
// already split the lines).
#include "brook/connectors/csv_format.h"

#include <csv.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "fmt/format.h"

namespace brook::connectors {

struct CsvSplitter::Impl {
  Impl() { Init(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { csv_free(&parser); }

  static int NeverSpace(unsigned char) { return 0; }
  static int NeverTerm(unsigned char) { return 0; }
  static void OnField(void* data, size_t size, void* self_ptr) {
    auto* self = static_cast<Impl*>(self_ptr);
    self->spans.emplace_back(self->storage.size(), size);
    if (size > 0) self->storage.append(static_cast<const char*>(data), size);
  }
  static void OnRow(int, void*) {}

  void Init() {
    csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI);
    csv_set_space_func(&parser, NeverSpace);
    csv_set_term_func(&parser, NeverTerm);
  }
  void Reset() {
    csv_free(&parser);
    Init();
  }

  csv_parser parser;
  std::string storage;
  std::vector<std::pair<size_t, size_t>> spans;  // (offset, size) in storage
};

CsvSplitter::CsvSplitter() : impl_(std::make_unique<Impl>()) {}
CsvSplitter::CsvSplitter(CsvSplitter&&) noexcept = default;
CsvSplitter& CsvSplitter::operator=(CsvSplitter&&) noexcept = default;
CsvSplitter::~CsvSplitter() = default;

bool CsvSplitter::Split(std::string_view line, std::vector<std::string_view>& fields,
                        std::string& reason) {
  fields.clear();
  if (std::memchr(line.data(), '"', line.size()) == nullptr) {
    const char* p = line.data();
    const char* const end = p + line.size();
    for (;;) {
      const auto* comma = static_cast<const char*>(std::memchr(p, ',', end - p));
      if (comma == nullptr) {
        fields.emplace_back(p, end - p);
        return true;
      }
      fields.emplace_back(p, comma - p);
      p = comma + 1;
    }
  }
  Impl& s = *impl_;
  s.storage.clear();
  s.spans.clear();
  const size_t parsed =
      csv_parse(&s.parser, line.data(), line.size(), Impl::OnField, Impl::OnRow, &s);
  if (parsed != line.size()) {
    // In strict mode libcsv stops at the offending byte.
    reason = fmt::format("malformed CSV quoting at byte offset {}", parsed);
    s.Reset();
    return false;
  }
  if (csv_fini(&s.parser, Impl::OnField, Impl::OnRow, &s) != 0) {
    reason = "unterminated quoted field (quoted fields cannot span lines)";
    s.Reset();  // csv_fini leaves the parser as it was when it fails
    return false;
  }
  for (const auto& [offset, size] : s.spans) {
    fields.emplace_back(s.storage.data() + offset, size);
  }
  return true;
}

namespace internal {

absl::Status ReadCsvHeader(LineReader& lines, CsvSplitter& splitter,
                           std::span<const std::string_view> wanted, std::span<int> index,
                           size_t& header_size) {
  Line line;
  BROOK_ASSIGN_OR_RETURN(const bool more, lines.Next(line));
  if (!more) {
    return absl::InvalidArgumentError(
        fmt::format("{}: empty input: no CSV header", lines.source()));
  }
  const auto bad = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        fmt::format("{}:{}: CSV header: {}", lines.source(), line.number, what));
  };
  if (line.blank()) return bad("blank line");
  std::string reason;
  if (!CheckLine(line, reason)) {
    // The header's own wording for an overlong line: no "line too long: ".
    if (line.overlong) return bad(fmt::format("{} bytes exceeds {}", line.length, kMaxLineBytes));
    return bad(reason);
  }
  std::vector<std::string_view> fields;
  if (!splitter.Split(line.text, fields, reason)) return bad(reason);
  header_size = fields.size();
  std::fill(index.begin(), index.end(), -1);
  for (size_t i = 0; i < fields.size(); ++i) {
    for (size_t c = 0; c < wanted.size(); ++c) {
      if (fields[i] != wanted[c]) continue;
      if (index[c] >= 0) return bad(fmt::format("duplicate column: {}", wanted[c]));
      index[c] = static_cast<int>(i);
    }
  }
  std::vector<std::string_view> missing;
  for (size_t c = 0; c < wanted.size(); ++c) {
    if (index[c] < 0) missing.push_back(wanted[c]);
  }
  if (!missing.empty()) {
    return bad(fmt::format("missing required column(s): {} (header: {})", fmt::join(missing, ", "),
                           QuoteForReason(line.text)));
  }
  return absl::OkStatus();
}

void FieldCountReason(size_t expected, size_t got, std::string& reason) {
  reason = fmt::format("wrong field count: expected {}, got {}", expected, got);
}

absl::Status RowError(const std::string& source, int64_t line_number, std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("{}:{}: {}", source, line_number, what));
}

}  // namespace internal
}  // namespace brook::connectors
