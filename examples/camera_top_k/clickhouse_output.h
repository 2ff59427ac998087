// File: camera_top_k/clickhouse_output.h
//
// The camera job's results in ClickHouse (--clickhouse_url, --results_table;
// docs/results-stores.md): a brook::connectors::ClickHouseSink of the result
// rows. Users query the view NAME, whose columns are the output CSV's:
//
//   window_start Nullable(Int64), window_end Nullable(Int64)  epoch ms; NULL
//                                                             for the global window
//   geographical_location_oid Int64, geographical_location String,
//   item_rank Int32, item_name String, item_count Int64
//
// With checkpointing, exactly once (rows visible once a checkpoint covers
// them); without, each batch is committed as it is inserted.
#ifndef CAMERA_TOP_K_CLICKHOUSE_OUTPUT_H_
#define CAMERA_TOP_K_CLICKHOUSE_OUTPUT_H_

#include <string>
#include <vector>

#include "brook/connectors/clickhouse/clickhouse_sink.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/camera_job.h"

namespace camera {

// The columns of the view users query, in the output CSV's order.
std::vector<brook::connectors::ClickHouseColumn> ClickHouseResultColumns();

// The sink's options: `url` http://[USER:PASSWORD@]HOST:PORT, `table` the
// view's name; `location_names` oid -> geographical_location.
brook::connectors::ClickHouseSinkOptions<ResultRow> ClickHouseResultSinkOptions(
    std::string url, std::string table, bool exactly_once, LocationNames location_names);

// For CameraJobOptions::result_stores: opens the sink (named "clickhouse")
// when the job is created; its errors (unreachable server, credentials, a
// table with other columns) are then Create()'s, before any work.
ResultStoreFactory ClickHouseResultStore(std::string url, std::string table, bool exactly_once);

}  // namespace camera

#endif  // CAMERA_TOP_K_CLICKHOUSE_OUTPUT_H_
