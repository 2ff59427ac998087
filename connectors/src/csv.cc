// File: brook/connectors/csv.cc
#include "brook/connectors/csv.h"

#include <cerrno>
#include <tuple>

namespace brook::connectors {
namespace {

absl::Status WriteError(int error_number) {
  absl::Status status = absl::ErrnoToStatus(error_number, "write CSV");
  if (status.code() == absl::StatusCode::kUnknown) {
    return absl::UnavailableError(status.message());
  }
  return status;
}

template <typename Fields>
void AppendFields(const Fields& fields, std::string& row) {
  bool first = true;
  for (std::string_view field : fields) {
    if (!first) row += ',';
    first = false;
    AppendCsvField(field, row);
  }
  row += '\n';
}

}  // namespace

void AppendCsvField(std::string_view field, std::string& out) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(field);
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string CsvEscape(std::string_view field) {
  std::string out;
  AppendCsvField(field, out);
  return out;
}

absl::Status CsvWriter::WriteRow(std::initializer_list<std::string_view> fields) {
  row_.clear();
  AppendFields(fields, row_);
  return EndRow();
}

absl::Status CsvWriter::WriteRow(const std::vector<std::string>& fields) {
  row_.clear();
  AppendFields(fields, row_);
  return EndRow();
}

absl::Status CsvWriter::EndRow() {
  if (buffer_ != nullptr) {
    buffer_->append(row_);
  } else if (std::fwrite(row_.data(), 1, row_.size(), file_) != row_.size()) {
    return WriteError(errno);
  }
  ++rows_written_;
  return absl::OkStatus();
}

absl::Status CsvWriter::Flush() {
  if (file_ != nullptr && std::fflush(file_) != 0) return WriteError(errno);
  return absl::OkStatus();
}

bool DeadLetterInputOrder(const DeadLetter& a, const DeadLetter& b) {
  return std::tie(a.source, a.line_number, a.reason) < std::tie(b.source, b.line_number, b.reason);
}

FileSinkOptions<DeadLetter> DeadLetterCsvSinkOptions() {
  FileSinkOptions<DeadLetter> options;
  options.encoder = &AppendDeadLetterCsv;
  options.header = std::string(kDeadLetterCsvHeader);
  options.order = &DeadLetterInputOrder;
  return options;
}

}  // namespace brook::connectors
