// File: camera_top_k/detection_reader.cc
//
// Reading is a 2 MiB buffer filled by read(2) and split into lines with
// memchr; a line is parsed in place, so an accepted record costs no
// allocation beyond item_name's. CSV lines without a '"' (nearly all real
// ones) are split on ',' with memchr; only lines with a quote go through
// libcsv, in strict mode, so that RFC 4180 quoting is handled by a tested
// parser while the common case stays fast. Both paths give the same fields
// because libcsv is told that no byte is a space (it would trim them) and no
// byte ends a record (the line splitter already did).
#include "camera_top_k/detection_reader.h"

#include <csv.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>
#include <span>
#include <unordered_map>
#include <utility>

#include "brook/status.h"
#include "fmt/format.h"
#include "simdjson.h"

namespace camera {
namespace {

constexpr size_t kReadBytes = size_t{1} << 20;
// Room for one whole maximal line plus a full read; see LineSource::Next.
constexpr size_t kBufferBytes = kMaxLineBytes + kReadBytes + 2;
constexpr std::string_view kBom = "\xEF\xBB\xBF";

absl::Status IoError(int error_number, const std::string& what) {
  absl::Status status = absl::ErrnoToStatus(error_number, what);
  // EIO and friends map to kUnknown; a failed read is worth retrying.
  if (status.code() == absl::StatusCode::kUnknown) {
    return absl::UnavailableError(status.message());
  }
  return status;
}

// Offset of the first byte that starts an invalid UTF-8 sequence, or npos.
// Runs only after simdjson's fast check has failed, so plain code suffices.
size_t InvalidUtf8Offset(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3;
      lo = 0xA0;  // overlong
    } else if (c == 0xED) {
      len = 3;
      hi = 0x9F;  // surrogates
    } else if (c >= 0xE1 && c <= 0xEF) {
      len = 3;
    } else if (c == 0xF0) {
      len = 4;
      lo = 0x90;  // overlong
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4;
      hi = 0x8F;  // beyond U+10FFFF
    } else {
      return i;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

// A field's text for a reason: double-quoted, escaped so that the reason
// stays one printable line, and cut short (at a character boundary) so that
// a huge field does not make a huge reason.
std::string Quoted(std::string_view text) {
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

enum class IntParse { kOk, kNotInteger, kOverflow };

// Strict decimal int64: from_chars over the whole text, so '+', whitespace
// and trailing bytes are all "not an integer".
IntParse ParseInt64(std::string_view text, int64_t& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::invalid_argument || ptr != end) {
    return IntParse::kNotInteger;
  }
  if (ec == std::errc::result_out_of_range) return IntParse::kOverflow;
  return IntParse::kOk;
}

// Sets `reason` for a field whose text failed ParseInt64.
void IntReason(std::string_view column, IntParse result, std::string_view text,
               std::string& reason) {
  reason = fmt::format(
      "{}: {}: {}", column,
      result == IntParse::kOverflow ? "integer overflow" : "not an integer",
      Quoted(text));
}

bool IsBlank(std::string_view text, bool overlong) {
  return text.empty() && !overlong;
}

// One physical line. `text` excludes the terminator ("\n", "\r\n") and, on
// the input's first line, a byte order mark; it is valid until the next
// LineSource call.
struct Line {
  std::string_view text;
  int64_t number = 0;
  // A line longer than kMaxLineBytes: `text` holds its first kMaxLineBytes
  // bytes and `length` its full length.
  bool overlong = false;
  int64_t length = 0;
};

// Buffered lines from a file descriptor, tracking each line's offset and
// number so that a reader can report and resume them.
class LineSource {
 public:
  static absl::StatusOr<std::unique_ptr<LineSource>> Open(
      const std::string& path) {
    if (path == "-") {
      return std::unique_ptr<LineSource>(
          new LineSource(STDIN_FILENO, /*owns_fd=*/false, path, "stdin"));
    }
    int fd;
    do {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return IoError(errno, fmt::format("open {}", path));
    auto source = std::unique_ptr<LineSource>(
        new LineSource(fd, /*owns_fd=*/true, path, path));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      return IoError(errno, fmt::format("stat {}", path));
    }
    if (S_ISDIR(st.st_mode)) {
      return IoError(EISDIR, fmt::format("open {}", path));
    }
    if (S_ISREG(st.st_mode)) {
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    return source;
  }

  LineSource(const LineSource&) = delete;
  LineSource& operator=(const LineSource&) = delete;
  ~LineSource() {
    if (owns_fd_) ::close(fd_);
  }

  // Reads the next line; false at the end of the input.
  absl::StatusOr<bool> Next(Line& line) {
    for (;;) {
      if (const void* nl =
              std::memchr(buf_.get() + scan_, '\n', end_ - scan_)) {
        const size_t stop = static_cast<const char*>(nl) - buf_.get();
        Emit(line, stop, stop + 1);
        return true;
      }
      scan_ = end_;
      if (eof_) {
        if (begin_ == end_) return false;
        Emit(line, end_, end_);
        return true;
      }
      // +1 so that a line of exactly kMaxLineBytes with a "\r\n" still fits.
      if (end_ - begin_ > kMaxLineBytes + 1) {
        BROOK_RETURN_IF_ERROR(SkipOverlong(line));
        return true;
      }
      if (begin_ > 0) {
        std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        scan_ -= begin_;
        begin_ = 0;
      }
      BROOK_RETURN_IF_ERROR(Fill());
    }
  }

  absl::Status Seek(int64_t offset, int64_t line_number, int64_t min_offset,
                    int64_t min_line) {
    if (!owns_fd_) {
      return absl::FailedPreconditionError("Seek: cannot seek stdin");
    }
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
      return IoError(errno, fmt::format("stat {}", path_));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(
          fmt::format("Seek {}: not a regular file", path_));
    }
    if (offset < min_offset || line_number < min_line) {
      return absl::InvalidArgumentError(fmt::format(
          "Seek {}: offset {} / line {} is before the first data line "
          "(offset {}, line {})",
          path_, offset, line_number, min_offset, min_line));
    }
    if (offset > st.st_size) {
      return absl::OutOfRangeError(
          fmt::format("Seek {}: offset {} is past the end ({} bytes)", path_,
                      offset, st.st_size));
    }
    if (offset > min_offset) {
      char previous = 0;
      const ssize_t n = ::pread(fd_, &previous, 1, offset - 1);
      if (n < 0) return IoError(errno, fmt::format("read {}", path_));
      if (n != 1 || previous != '\n') {
        return absl::InvalidArgumentError(fmt::format(
            "Seek {}: offset {} is not the start of a line", path_, offset));
      }
    }
    if (::lseek(fd_, offset, SEEK_SET) < 0) {
      return IoError(errno, fmt::format("seek {}", path_));
    }
    begin_ = end_ = scan_ = 0;
    eof_ = false;
    offset_ = offset;
    next_line_ = line_number;
    return absl::OkStatus();
  }

  int64_t offset() const { return offset_; }
  int64_t next_line_number() const { return next_line_; }
  const std::string& source() const { return source_; }

 private:
  LineSource(int fd, bool owns_fd, std::string path, std::string source)
      : fd_(fd),
        owns_fd_(owns_fd),
        path_(std::move(path)),
        source_(std::move(source)),
        // simdjson may read up to simdjson::SIMDJSON_PADDING bytes past a line
        // parsed in place.
        buf_(new char[kBufferBytes + simdjson::SIMDJSON_PADDING]) {}

  absl::Status Fill() {
    for (;;) {
      const ssize_t n = ::read(fd_, buf_.get() + end_, kBufferBytes - end_);
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError(errno, fmt::format("read {}", source_));
      }
      if (n == 0) eof_ = true;
      end_ += static_cast<size_t>(n);
      return absl::OkStatus();
    }
  }

  // Hands out [begin_, stop) and moves on to `next`.
  void Emit(Line& line, size_t stop, size_t next) {
    const char* start = buf_.get() + begin_;
    size_t len = stop - begin_;
    if (len > 0 && start[len - 1] == '\r') --len;
    line.text = std::string_view(start, len);
    if (offset_ == 0 && line.text.starts_with(kBom)) {
      line.text.remove_prefix(kBom.size());
    }
    line.number = next_line_++;
    line.length = static_cast<int64_t>(line.text.size());
    line.overlong = line.text.size() > kMaxLineBytes;
    if (line.overlong) line.text = line.text.substr(0, kMaxLineBytes);
    offset_ += static_cast<int64_t>(next - begin_);
    begin_ = scan_ = next;
  }

  // Keeps the head of a line too long for the buffer and discards the rest.
  absl::Status SkipOverlong(Line& line) {
    overlong_.assign(buf_.get() + begin_, kMaxLineBytes);
    int64_t length = static_cast<int64_t>(end_ - begin_);
    int64_t consumed = length;
    char last = buf_[end_ - 1];
    begin_ = end_ = scan_ = 0;
    for (;;) {
      BROOK_RETURN_IF_ERROR(Fill());
      if (const void* nl = std::memchr(buf_.get(), '\n', end_)) {
        const size_t stop = static_cast<const char*>(nl) - buf_.get();
        length += static_cast<int64_t>(stop);
        consumed += static_cast<int64_t>(stop) + 1;
        if (stop > 0) last = buf_[stop - 1];
        begin_ = scan_ = stop + 1;
        break;
      }
      length += static_cast<int64_t>(end_);
      consumed += static_cast<int64_t>(end_);
      if (end_ > 0) last = buf_[end_ - 1];
      end_ = 0;
      if (eof_) break;
    }
    if (last == '\r') --length;
    line.text = overlong_;
    line.number = next_line_++;
    line.overlong = true;
    line.length = length;
    offset_ += consumed;
    return absl::OkStatus();
  }

  const int fd_;
  const bool owns_fd_;
  const std::string path_;
  const std::string source_;
  std::unique_ptr<char[]> buf_;
  size_t begin_ = 0;  // start of the next line in buf_
  size_t end_ = 0;    // end of the data in buf_
  size_t scan_ = 0;   // where to look for the next '\n' (already scanned below)
  bool eof_ = false;
  int64_t offset_ = 0;  // input offset of buf_[begin_]
  int64_t next_line_ = 1;
  std::string overlong_;
};

// Splits one CSV line (no terminator) into fields.
class CsvSplitter {
 public:
  CsvSplitter() { Init(); }
  CsvSplitter(const CsvSplitter&) = delete;
  CsvSplitter& operator=(const CsvSplitter&) = delete;
  ~CsvSplitter() { csv_free(&parser_); }

  // Fills `fields` with views into `line` or into this object, valid until
  // the next call. False, with `reason` set, for malformed quoting.
  bool Split(std::string_view line, std::vector<std::string_view>& fields,
             std::string& reason) {
    fields.clear();
    if (std::memchr(line.data(), '"', line.size()) == nullptr) {
      const char* p = line.data();
      const char* const end = p + line.size();
      for (;;) {
        const auto* comma =
            static_cast<const char*>(std::memchr(p, ',', end - p));
        if (comma == nullptr) {
          fields.emplace_back(p, end - p);
          return true;
        }
        fields.emplace_back(p, comma - p);
        p = comma + 1;
      }
    }
    storage_.clear();
    spans_.clear();
    const size_t parsed =
        csv_parse(&parser_, line.data(), line.size(), OnField, OnRow, this);
    if (parsed != line.size()) {
      // In strict mode libcsv stops at the offending byte.
      reason = fmt::format("malformed CSV quoting at byte offset {}", parsed);
      Reset();
      return false;
    }
    if (csv_fini(&parser_, OnField, OnRow, this) != 0) {
      reason = "unterminated quoted field (quoted fields cannot span lines)";
      Reset();  // csv_fini leaves the parser as it was when it fails
      return false;
    }
    for (const auto& [offset, size] : spans_) {
      fields.emplace_back(storage_.data() + offset, size);
    }
    return true;
  }

 private:
  static int NeverSpace(unsigned char) { return 0; }
  static int NeverTerm(unsigned char) { return 0; }
  static void OnField(void* data, size_t size, void* self_ptr) {
    auto* self = static_cast<CsvSplitter*>(self_ptr);
    self->spans_.emplace_back(self->storage_.size(), size);
    if (size > 0) self->storage_.append(static_cast<const char*>(data), size);
  }
  static void OnRow(int, void*) {}

  void Init() {
    csv_init(&parser_, CSV_STRICT | CSV_STRICT_FINI);
    csv_set_space_func(&parser_, NeverSpace);
    csv_set_term_func(&parser_, NeverTerm);
  }
  void Reset() {
    csv_free(&parser_);
    Init();
  }

  csv_parser parser_;
  std::string storage_;
  std::vector<std::pair<size_t, size_t>> spans_;  // (offset, size) in storage_
};

// Reads line 1 as a CSV header and finds each of `wanted` in it.
absl::Status ReadCsvHeader(LineSource& lines, CsvSplitter& splitter,
                           std::span<const std::string_view> wanted,
                           std::span<int> index, size_t& header_size) {
  Line line;
  BROOK_ASSIGN_OR_RETURN(const bool more, lines.Next(line));
  if (!more) {
    return absl::InvalidArgumentError(
        fmt::format("{}: empty input: no CSV header", lines.source()));
  }
  const auto bad = [&](std::string_view what) {
    return absl::InvalidArgumentError(fmt::format(
        "{}:{}: CSV header: {}", lines.source(), line.number, what));
  };
  if (IsBlank(line.text, line.overlong)) return bad("blank line");
  if (line.overlong) {
    return bad(fmt::format("{} bytes exceeds {}", line.length, kMaxLineBytes));
  }
  if (!simdjson::validate_utf8(line.text.data(), line.text.size())) {
    return bad(fmt::format("invalid UTF-8 at byte offset {}",
                           InvalidUtf8Offset(line.text)));
  }
  std::vector<std::string_view> fields;
  std::string reason;
  if (!splitter.Split(line.text, fields, reason)) return bad(reason);
  header_size = fields.size();
  std::fill(index.begin(), index.end(), -1);
  for (size_t i = 0; i < fields.size(); ++i) {
    for (size_t c = 0; c < wanted.size(); ++c) {
      if (fields[i] != wanted[c]) continue;
      if (index[c] >= 0) {
        return bad(fmt::format("duplicate column: {}", wanted[c]));
      }
      index[c] = static_cast<int>(i);
    }
  }
  std::vector<std::string_view> missing;
  for (size_t c = 0; c < wanted.size(); ++c) {
    if (index[c] < 0) missing.push_back(wanted[c]);
  }
  if (!missing.empty()) {
    return bad(fmt::format("missing required column(s): {} (header: {})",
                           fmt::join(missing, ", "), Quoted(line.text)));
  }
  return absl::OkStatus();
}

// Dataset A's required columns, in the order their fields are checked.
enum Column { kGeo, kCamera, kDetectionOid, kItem, kTimestamp, kNumColumns };
constexpr std::array<std::string_view, kNumColumns> kColumnNames = {
    "geographical_location_oid", "video_camera_oid", "detection_oid",
    "item_name", "timestamp_detected"};

std::string_view JsonTypeName(simdjson::dom::element_type type) {
  using simdjson::dom::element_type;
  switch (type) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::INT64:
    case element_type::UINT64:
      return "integer";
    case element_type::DOUBLE:
      return "floating-point number";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "bool";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

}  // namespace

absl::StatusOr<InputFormat> ParseInputFormat(std::string_view text) {
  if (text == "auto") return InputFormat::kAuto;
  if (text == "csv") return InputFormat::kCsv;
  if (text == "jsonl") return InputFormat::kJsonLines;
  return absl::InvalidArgumentError(fmt::format(
      "input format {}: expected auto, csv or jsonl", Quoted(text)));
}

absl::StatusOr<TimestampUnit> ParseTimestampUnit(std::string_view text) {
  if (text == "s") return TimestampUnit::kSeconds;
  if (text == "ms") return TimestampUnit::kMilliseconds;
  if (text == "us") return TimestampUnit::kMicroseconds;
  return absl::InvalidArgumentError(
      fmt::format("timestamp unit {}: expected s, ms or us", Quoted(text)));
}

bool TimestampToMillis(int64_t value, TimestampUnit unit, int64_t& millis) {
  switch (unit) {
    case TimestampUnit::kSeconds:
      return !__builtin_mul_overflow(value, int64_t{1000}, &millis);
    case TimestampUnit::kMilliseconds:
      millis = value;
      return true;
    case TimestampUnit::kMicroseconds:
      // C++ division truncates toward zero; event time wants the floor.
      millis = value / 1000 - (value % 1000 < 0 ? 1 : 0);
      return true;
  }
  return false;
}

class DetectionReader::Impl {
 public:
  Impl(std::unique_ptr<LineSource> lines, InputFormat format,
       TimestampUnit unit)
      : lines_(std::move(lines)), format_(format), unit_(unit) {}

  absl::Status Start() {
    if (format_ == InputFormat::kCsv) {
      BROOK_RETURN_IF_ERROR(ReadCsvHeader(*lines_, splitter_, kColumnNames,
                                          column_index_, header_size_));
      data_line_ = 2;
    }
    data_offset_ = lines_->offset();
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Next(ReadResult& out) {
    Line line;
    for (;;) {
      BROOK_ASSIGN_OR_RETURN(const bool more, lines_->Next(line));
      if (!more) return false;
      if (!IsBlank(line.text, line.overlong)) break;
      ++blank_lines_;
    }
    out.line_number = line.number;
    if (Parse(line, out.detection, out.rejection.reason)) {
      out.rejected = false;
      ++accepted_;
      return true;
    }
    out.rejected = true;
    out.rejection.source = lines_->source();
    out.rejection.line_number = line.number;
    out.rejection.raw_line.assign(line.text);
    ++rejected_;
    return true;
  }

  absl::Status Seek(int64_t offset, int64_t line_number) {
    return lines_->Seek(offset, line_number, data_offset_, data_line_);
  }

  const LineSource& lines() const { return *lines_; }
  InputFormat format() const { return format_; }
  int64_t data_offset() const { return data_offset_; }
  int64_t accepted() const { return accepted_; }
  int64_t rejected() const { return rejected_; }
  int64_t blank_lines() const { return blank_lines_; }
  void RestoreCounters(int64_t accepted, int64_t rejected, int64_t blank_lines) {
    accepted_ = accepted;
    rejected_ = rejected;
    blank_lines_ = blank_lines;
  }

 private:
  bool Parse(const Line& line, Detection& d, std::string& reason) {
    if (line.overlong) {
      reason = fmt::format("line too long: {} bytes exceeds {}", line.length,
                           kMaxLineBytes);
      return false;
    }
    if (!simdjson::validate_utf8(line.text.data(), line.text.size())) {
      reason = fmt::format("invalid UTF-8 at byte offset {}",
                           InvalidUtf8Offset(line.text));
      return false;
    }
    return format_ == InputFormat::kCsv ? ParseCsv(line.text, d, reason)
                                        : ParseJson(line.text, d, reason);
  }

  bool ParseCsv(std::string_view text, Detection& d, std::string& reason) {
    if (!splitter_.Split(text, fields_, reason)) return false;
    if (fields_.size() != header_size_) {
      reason = fmt::format("wrong field count: expected {}, got {}",
                           header_size_, fields_.size());
      return false;
    }
    int64_t raw_timestamp = 0;
    return SetInt(kGeo, d.geographical_location_oid, reason) &&
           SetInt(kCamera, d.video_camera_oid, reason) &&
           SetInt(kDetectionOid, d.detection_oid, reason) &&
           SetItemName(fields_[column_index_[kItem]], d, reason) &&
           SetInt(kTimestamp, raw_timestamp, reason) &&
           SetTimestamp(raw_timestamp, d, reason);
  }

  bool SetInt(Column column, int64_t& value, std::string& reason) {
    const std::string_view text = fields_[column_index_[column]];
    const IntParse result = ParseInt64(text, value);
    if (result == IntParse::kOk) return true;
    IntReason(kColumnNames[column], result, text, reason);
    return false;
  }

  static bool SetItemName(std::string_view text, Detection& d,
                          std::string& reason) {
    if (text.empty()) {
      // Not an item: counting it would put "" in a top-k.
      reason = "item_name: empty";
      return false;
    }
    if (text.size() > kMaxItemNameBytes) {
      reason = fmt::format("item_name: {} bytes exceeds {}", text.size(),
                           kMaxItemNameBytes);
      return false;
    }
    d.item_name.assign(text);
    return true;
  }

  bool SetTimestamp(int64_t raw, Detection& d, std::string& reason) const {
    if (TimestampToMillis(raw, unit_, d.timestamp_detected_ms)) return true;
    reason = "timestamp_detected: overflows int64 milliseconds";
    return false;
  }

  bool ParseJson(std::string_view text, Detection& d, std::string& reason) {
    simdjson::dom::element doc;
    // The line lies in LineSource's buffer, which has
    // simdjson::SIMDJSON_PADDING bytes to spare after any line, so simdjson can
    // parse it without a copy.
    const auto error =
        json_parser_
            .parse(text.data(), text.size(), /*realloc_if_needed=*/false)
            .get(doc);
    if (error) {
      if (error != simdjson::NUMBER_ERROR || !NameHugeInteger(text, reason)) {
        reason =
            fmt::format("invalid JSON: {}", simdjson::error_message(error));
      }
      return false;
    }
    simdjson::dom::object object;
    if (doc.get(object)) {
      reason = fmt::format("invalid JSON: expected an object, got {}",
                           JsonTypeName(doc.type()));
      return false;
    }
    std::array<simdjson::dom::element, kNumColumns> values;
    for (int c = 0; c < kNumColumns; ++c) {
      if (object.at_key(kColumnNames[c]).get(values[c])) {
        reason = fmt::format("missing field: {}", kColumnNames[c]);
        return false;
      }
    }
    int64_t raw_timestamp = 0;
    if (!JsonInt(kGeo, values[kGeo], d.geographical_location_oid, reason) ||
        !JsonInt(kCamera, values[kCamera], d.video_camera_oid, reason) ||
        !JsonInt(kDetectionOid, values[kDetectionOid], d.detection_oid,
                 reason)) {
      return false;
    }
    std::string_view item;
    if (values[kItem].get(item)) {
      reason = fmt::format("item_name: expected string, got {}",
                           JsonTypeName(values[kItem].type()));
      return false;
    }
    return SetItemName(item, d, reason) &&
           JsonInt(kTimestamp, values[kTimestamp], raw_timestamp, reason) &&
           SetTimestamp(raw_timestamp, d, reason);
  }

  static bool JsonInt(Column column, simdjson::dom::element value, int64_t& out,
                      std::string& reason) {
    using simdjson::dom::element_type;
    switch (value.type()) {
      case element_type::INT64:
        out = value.get_int64().value_unsafe();
        return true;
      case element_type::UINT64:
        reason =
            fmt::format("{}: integer overflow: \"{}\"", kColumnNames[column],
                        value.get_uint64().value_unsafe());
        return false;
      default:
        reason = fmt::format("{}: expected integer, got {}",
                             kColumnNames[column], JsonTypeName(value.type()));
        return false;
    }
  }

  // simdjson's DOM fails a whole document on an integer that does not fit in
  // 64 bits. Walk the line again, lazily, to name a required field that holds
  // one; false when none does (the number error is elsewhere).
  bool NameHugeInteger(std::string_view text, std::string& reason) {
    simdjson::ondemand::document doc;
    if (lazy_parser_
            .iterate(text.data(), text.size(),
                     text.size() + simdjson::SIMDJSON_PADDING)
            .get(doc)) {
      return false;
    }
    simdjson::ondemand::object object;
    if (doc.get_object().get(object)) return false;
    for (auto field_result : object) {
      simdjson::ondemand::field field;
      std::string_view key;
      if (std::move(field_result).get(field) ||
          field.unescaped_key().get(key)) {
        return false;
      }
      const auto name =
          std::find(kColumnNames.begin(), kColumnNames.end(), key);
      if (name == kColumnNames.end() || *name == kColumnNames[kItem]) continue;
      std::string_view token = field.value().raw_json_token();
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t' ||
                                token.back() == '\r' || token.back() == '\n')) {
        token.remove_suffix(1);
      }
      int64_t ignored = 0;
      if (ParseInt64(token, ignored) != IntParse::kOverflow) continue;
      IntReason(*name, IntParse::kOverflow, token, reason);
      return true;
    }
    return false;
  }

  std::unique_ptr<LineSource> lines_;
  const InputFormat format_;
  const TimestampUnit unit_;
  CsvSplitter splitter_;
  std::vector<std::string_view> fields_;
  std::array<int, kNumColumns> column_index_{};
  size_t header_size_ = 0;
  simdjson::dom::parser json_parser_;
  simdjson::ondemand::parser lazy_parser_;
  int64_t data_offset_ = 0;
  int64_t data_line_ = 1;
  int64_t accepted_ = 0;
  int64_t rejected_ = 0;
  int64_t blank_lines_ = 0;
};

absl::StatusOr<std::unique_ptr<DetectionReader>> DetectionReader::Open(
    std::string path, InputFormat format, TimestampUnit unit) {
  if (format == InputFormat::kAuto) {
    format =
        path.ends_with(".jsonl") ? InputFormat::kJsonLines : InputFormat::kCsv;
  }
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<LineSource> lines,
                         LineSource::Open(path));
  auto impl = std::make_unique<Impl>(std::move(lines), format, unit);
  BROOK_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<DetectionReader>(new DetectionReader(std::move(impl)));
}

DetectionReader::DetectionReader(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
DetectionReader::~DetectionReader() = default;

absl::StatusOr<bool> DetectionReader::Next(ReadResult& out) {
  return impl_->Next(out);
}
int64_t DetectionReader::offset() const { return impl_->lines().offset(); }
int64_t DetectionReader::next_line_number() const {
  return impl_->lines().next_line_number();
}
absl::Status DetectionReader::Seek(int64_t offset, int64_t line_number) {
  return impl_->Seek(offset, line_number);
}
int64_t DetectionReader::data_offset() const { return impl_->data_offset(); }
InputFormat DetectionReader::format() const { return impl_->format(); }
const std::string& DetectionReader::source() const {
  return impl_->lines().source();
}
int64_t DetectionReader::accepted() const { return impl_->accepted(); }
int64_t DetectionReader::rejected() const { return impl_->rejected(); }
int64_t DetectionReader::blank_lines() const { return impl_->blank_lines(); }
void DetectionReader::RestoreCounters(int64_t accepted, int64_t rejected, int64_t blank_lines) {
  impl_->RestoreCounters(accepted, rejected, blank_lines);
}

absl::StatusOr<std::vector<Location>> LoadLocationsCsv(
    const std::string& path) {
  constexpr std::array<std::string_view, 2> kNames = {
      "geographical_location_oid", "geographical_location"};
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<LineSource> lines,
                         LineSource::Open(path));
  CsvSplitter splitter;
  std::array<int, 2> index{};
  size_t header_size = 0;
  BROOK_RETURN_IF_ERROR(
      ReadCsvHeader(*lines, splitter, kNames, index, header_size));

  std::vector<Location> locations;
  std::unordered_map<int64_t, int64_t> first_line;  // oid -> line number
  std::vector<std::string_view> fields;
  std::string reason;
  Line line;
  for (;;) {
    BROOK_ASSIGN_OR_RETURN(const bool more, lines->Next(line));
    if (!more) break;
    if (IsBlank(line.text, line.overlong)) continue;
    const auto bad = [&](std::string_view what) {
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: {}", lines->source(), line.number, what));
    };
    if (line.overlong) {
      return bad(fmt::format("line too long: {} bytes exceeds {}", line.length,
                             kMaxLineBytes));
    }
    if (!simdjson::validate_utf8(line.text.data(), line.text.size())) {
      return bad(fmt::format("invalid UTF-8 at byte offset {}",
                             InvalidUtf8Offset(line.text)));
    }
    if (!splitter.Split(line.text, fields, reason)) return bad(reason);
    if (fields.size() != header_size) {
      return bad(fmt::format("wrong field count: expected {}, got {}",
                             header_size, fields.size()));
    }
    Location location;
    const std::string_view oid_text = fields[index[0]];
    const IntParse parsed =
        ParseInt64(oid_text, location.geographical_location_oid);
    if (parsed != IntParse::kOk) {
      IntReason(kNames[0], parsed, oid_text, reason);
      return bad(reason);
    }
    const std::string_view name = fields[index[1]];
    if (name.size() > kMaxLocationNameBytes) {
      return bad(fmt::format("geographical_location: {} bytes exceeds {}",
                             name.size(), kMaxLocationNameBytes));
    }
    const auto [it, inserted] =
        first_line.emplace(location.geographical_location_oid, line.number);
    if (!inserted) {
      return bad(fmt::format(
          "geographical_location_oid: duplicate {} (first on line {})",
          location.geographical_location_oid, it->second));
    }
    location.geographical_location.assign(name);
    locations.push_back(std::move(location));
  }
  return locations;
}

}  // namespace camera
