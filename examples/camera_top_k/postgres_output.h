// File: camera_top_k/postgres_output.h
//
// The camera job's results in a PostgreSQL table (--postgres=CONNINFO,
// --results_table=NAME), through brook::connectors::PostgresSink: columns
// with the output CSV's names,
//   window_start BIGINT, window_end BIGINT   epoch ms; NULL for the global window
//   geographical_location_oid BIGINT, geographical_location TEXT,
//   item_rank INTEGER, item_name TEXT, item_count BIGINT
// With checkpointing the table is written exactly once (two-phase commit);
// without, each transaction commits at a watermark. A run that restores no
// checkpoint replaces the table's rows (as --output truncates its file), in
// its first transaction. Queries for dashboards: docs/results-stores.md.
#ifndef CAMERA_TOP_K_POSTGRES_OUTPUT_H_
#define CAMERA_TOP_K_POSTGRES_OUTPUT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "brook/connectors/postgres/postgres_sink.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/camera_job.h"

namespace camera {

// Opens the sink, checking the server, credentials and table before any work
// (PostgresSink::Open's codes, the message naming --postgres or
// --results_table). `location_names`: oid -> geographical_location.
absl::StatusOr<std::shared_ptr<brook::connectors::PostgresSink<ResultRow>>> OpenPostgresResults(
    const std::string& conninfo, const std::string& table, bool exactly_once,
    std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names);

// For CameraJobOptions::result_stores: opens the sink (named "postgres") when
// the job is created, so that its errors come before any work.
ResultStoreFactory PostgresResultStore(std::string conninfo, std::string table,
                                       bool exactly_once);

}  // namespace camera

#endif  // CAMERA_TOP_K_POSTGRES_OUTPUT_H_
