// File: camera_top_k/clickhouse_output.cc
#include "camera_top_k/clickhouse_output.h"

#include <memory>
#include <utility>

namespace camera {

using brook::connectors::ClickHouseColumn;
using brook::connectors::ClickHouseCommitMode;
using brook::connectors::ClickHouseRow;
using brook::connectors::ClickHouseSink;
using brook::connectors::ClickHouseSinkOptions;

std::vector<ClickHouseColumn> ClickHouseResultColumns() {
  return {{"window_start", "Nullable(Int64)"},
          {"window_end", "Nullable(Int64)"},
          {"geographical_location_oid", "Int64"},
          {"geographical_location", "String"},
          {"item_rank", "Int32"},
          {"item_name", "String"},
          {"item_count", "Int64"}};
}

ClickHouseSinkOptions<ResultRow> ClickHouseResultSinkOptions(std::string url, std::string table,
                                                             bool exactly_once,
                                                             LocationNames location_names) {
  ClickHouseSinkOptions<ResultRow> options;
  options.url = std::move(url);
  options.table = std::move(table);
  options.columns = ClickHouseResultColumns();
  options.mode =
      exactly_once ? ClickHouseCommitMode::kExactlyOnce : ClickHouseCommitMode::kAutoCommit;
  options.encoder = [names = std::move(location_names)](const ResultRow& r, ClickHouseRow& out) {
    if (r.global_window) {
      out.Null().Null();
    } else {
      out.Int(r.window_start_ms).Int(r.window_end_ms);
    }
    auto it = names->find(r.geographical_location_oid);
    out.Int(r.geographical_location_oid)
        .String(it == names->end() ? std::string_view() : std::string_view(it->second))
        .Int(r.item_rank)
        .String(r.item_name)
        .Int(r.item_count);
  };
  return options;
}

ResultStoreFactory ClickHouseResultStore(std::string url, std::string table, bool exactly_once) {
  return [url = std::move(url), table = std::move(table),
          exactly_once](LocationNames names) -> absl::StatusOr<ResultStore> {
    auto sink = ClickHouseSink<ResultRow>::Open(
        ClickHouseResultSinkOptions(url, table, exactly_once, std::move(names)));
    if (!sink.ok()) return sink.status();
    std::shared_ptr<ClickHouseSink<ResultRow>> s = *std::move(sink);
    return ResultStore{"clickhouse", s, [s] { return s->rows_written(); }};
  };
}

}  // namespace camera
