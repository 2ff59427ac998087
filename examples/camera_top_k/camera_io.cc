#include "camera_top_k/camera_io.h"

#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "brook/connectors/csv.h"

namespace camera {

ResultRow ToResultRow(brook::ops::RankedItem<int64_t>&& r) {
  return ResultRow{r.global_window, r.window_start_ms, r.window_end_ms, r.partition,
                   r.rank,          std::move(r.item),  r.count};
}

brook::connectors::FileSinkOptions<ResultRow> ResultCsvSinkOptions(
    std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names) {
  brook::connectors::FileSinkOptions<ResultRow> options;
  options.header =
      "window_start,window_end,geographical_location_oid,geographical_location,item_rank,"
      "item_name,item_count";
  options.encoder = [names = std::move(location_names)](const ResultRow& r, std::string& out) {
    static const std::string kEmpty;
    auto it = names->find(r.geographical_location_oid);
    const std::string& name = it == names->end() ? kEmpty : it->second;
    if (r.global_window) {
      brook::connectors::AppendCsvRow(out, kEmpty, kEmpty, r.geographical_location_oid, name,
                                      r.item_rank, r.item_name, r.item_count);
    } else {
      brook::connectors::AppendCsvRow(out, r.window_start_ms, r.window_end_ms,
                                      r.geographical_location_oid, name, r.item_rank,
                                      r.item_name, r.item_count);
    }
  };
  // Every result for windows that end at or before the watermark has arrived
  // (results travel ahead of the watermark that fired them). A row waits
  // for the watermark to reach its timestamp (its window's end - 1): with
  // several Top-K subtasks, one may fire a later window before the sink's
  // watermark (the minimum over them) reaches it, and that row must not be
  // written among the earlier windows' rows.
  options.order = [](const ResultRow& a, const ResultRow& b) {
    return std::tie(a.window_end_ms, a.window_start_ms, a.geographical_location_oid,
                    a.item_rank) <
           std::tie(b.window_end_ms, b.window_start_ms, b.geographical_location_oid, b.item_rank);
  };
  options.release_by_event_time = true;
  return options;
}

std::string FormatDetectionCsv(const Detection& d, TimestampUnit unit) {
  std::string line = absl::StrCat(d.geographical_location_oid, ",", d.video_camera_oid, ",",
                                  d.detection_oid, ",");
  brook::connectors::AppendCsvField(d.item_name, line);
  absl::StrAppend(&line, ",", brook::connectors::FromEpochMillis(d.timestamp_detected_ms, unit));
  return line;
}

}  // namespace camera
