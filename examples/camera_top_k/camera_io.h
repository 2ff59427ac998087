// File: camera_top_k/camera_io.h
//
// The camera job's sources and sinks, as brook Source/Sink implementations:
//   - Dataset A from a file or stdin: a brook::connectors::FileSource<Event>
//     (detection_schema.h), bounded, parallelism 1 (one reader, so line
//     numbers and watermarks follow input order).
//   - DetectionGeneratorSource (generator.h): the synthetic generator.
//   - ResultCsvSinkOptions: the result CSV as a brook::connectors
//     TransactionalFileSink, its rows written in (window end, location oid,
//     rank) order each time the watermark passes. The dead letters use the
//     connectors' DeadLetterCsvSinkOptions (source,line_number,reason,raw_line).
//
// Checkpointing (docs/checkpoints.md): the file reader snapshots its byte
// offset, line number and counters, the generator its PRNG state and
// counters; a restored reader emits exactly the records that followed the
// snapshot. Stdin cannot be replayed (SnapshotState: kUnimplemented). The
// sinks, opened in FileSinkMode::kTransactional, take part in the two-phase
// commit (brook/connectors/transactional_file_sink.h); in kPlain they write
// through and decline checkpoints (kFailedPrecondition).
#ifndef CAMERA_TOP_K_CAMERA_IO_H_
#define CAMERA_TOP_K_CAMERA_IO_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "brook/connectors/dead_letter.h"
#include "brook/connectors/transactional_file_sink.h"
#include "brook/operators/top_k.h"
#include "brook/serialization.h"
#include "camera_top_k/detection.h"

namespace camera {

// A row of the result: one ranked item of one location and window.
struct ResultRow {
  bool global_window = true;
  int64_t window_start_ms = 0;
  int64_t window_end_ms = 0;
  int64_t geographical_location_oid = 0;
  int32_t item_rank = 0;
  std::string item_name;
  int64_t item_count = 0;
};

// A Top-K firing's ranked item (partition: the location oid) as a row.
ResultRow ToResultRow(brook::ops::RankedItem<int64_t>&& item);

// The result CSV (columns window_start,window_end,geographical_location_oid,
// geographical_location,item_rank,item_name,item_count; window bounds empty
// for the global window), ordered by window end, window start, location oid
// and rank; each row written once the watermark reaches its window's end, so
// the file is the same at any parallelism and however subtasks interleave. `location_names`: oid -> geographical_location
// (a missing oid: empty).
brook::connectors::FileSinkOptions<ResultRow> ResultCsvSinkOptions(
    std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names);

// Dataset A's columns, re-serialised from parsed fields (timestamp in
// `unit`): the raw_line of records rejected after parsing (unknown location,
// late), whose original text is no longer at hand.
std::string FormatDetectionCsv(const Detection& d, TimestampUnit unit);

}  // namespace camera

// The checkpoint encoding of the result rows the sink buffers.
template <>
struct brook::TypeSerializer<camera::ResultRow> {
  static void Serialize(const camera::ResultRow& r, DataOutputView& out) {
    out.WriteUint8(r.global_window ? 1 : 0);
    out.WriteInt64(r.window_start_ms);
    out.WriteInt64(r.window_end_ms);
    out.WriteInt64(r.geographical_location_oid);
    out.WriteInt32(r.item_rank);
    out.WriteString(r.item_name);
    out.WriteInt64(r.item_count);
  }
  static absl::Status Deserialize(DataInputView& in, camera::ResultRow* r) {
    uint8_t global = 0;
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&global));
    if (global > 1) return absl::DataLossError("result row: bad global_window flag");
    r->global_window = global == 1;
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r->window_start_ms));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r->window_end_ms));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r->geographical_location_oid));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&r->item_rank));
    BROOK_RETURN_IF_ERROR(in.ReadString(&r->item_name));
    return in.ReadInt64(&r->item_count);
  }
};

#endif  // CAMERA_TOP_K_CAMERA_IO_H_
