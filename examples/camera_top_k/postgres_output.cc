#include "camera_top_k/postgres_output.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "brook/connectors/postgres/postgres_sink.h"

namespace camera {

using brook::connectors::PostgresRow;
using brook::connectors::PostgresSink;
using brook::connectors::PostgresSinkOptions;

absl::StatusOr<std::shared_ptr<brook::connectors::PostgresSink<ResultRow>>> OpenPostgresResults(
    const std::string& conninfo, const std::string& table, bool exactly_once,
    std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names) {
  PostgresSinkOptions<ResultRow> o;
  o.config.conninfo = conninfo;
  o.config.table = table;
  o.config.columns = {{"window_start", "BIGINT"},
                      {"window_end", "BIGINT"},
                      {"geographical_location_oid", "BIGINT"},
                      {"geographical_location", "TEXT"},
                      {"item_rank", "INTEGER"},
                      {"item_name", "TEXT"},
                      {"item_count", "BIGINT"}};
  o.config.replace_on_fresh_start = true;
  o.config.exactly_once = exactly_once;
  o.encoder = [names = std::move(location_names)](const ResultRow& r, PostgresRow& row) {
    if (r.global_window) {
      row.AddNull();
      row.AddNull();
    } else {
      row.AddInt64(r.window_start_ms);
      row.AddInt64(r.window_end_ms);
    }
    row.AddInt64(r.geographical_location_oid);
    auto it = names->find(r.geographical_location_oid);
    row.AddText(it == names->end() ? std::string_view() : std::string_view(it->second));
    row.AddInt64(r.item_rank);
    row.AddText(r.item_name);
    row.AddInt64(r.item_count);
  };
  auto sink = PostgresSink<ResultRow>::Open(std::move(o));
  if (!sink.ok()) {
    const bool table_problem = sink.status().code() == absl::StatusCode::kFailedPrecondition &&
                               absl::StrContains(sink.status().message(), "exists with columns");
    return absl::Status(sink.status().code(),
                        absl::StrCat(table_problem ? "--results_table=" : "--postgres: ",
                                     table_problem ? table + ": " : "", sink.status().message()));
  }
  return *std::move(sink);
}

ResultStoreFactory PostgresResultStore(std::string conninfo, std::string table,
                                       bool exactly_once) {
  return [conninfo = std::move(conninfo), table = std::move(table),
          exactly_once](LocationNames names) -> absl::StatusOr<ResultStore> {
    auto sink = OpenPostgresResults(conninfo, table, exactly_once, std::move(names));
    if (!sink.ok()) return sink.status();
    std::shared_ptr<brook::connectors::PostgresSink<ResultRow>> postgres = *std::move(sink);
    return ResultStore{"postgres", postgres, [postgres] { return postgres->rows_written(); }};
  };
}

}  // namespace camera
