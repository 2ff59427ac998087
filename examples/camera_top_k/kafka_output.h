// File: camera_top_k/kafka_output.h
//
// The camera job's Kafka outputs (docs/kafka.md):
//   - the result rows to a topic (--output_topic), through a
//     brook::connectors::KafkaSink: one JSON object per row with the output
//     CSV's column names, keyed by geographical_location_oid;
//   - camera_generate's detections to a topic (--topic): one JSON object per
//     detection with Dataset A's five field names (what the job reads with
//     --kafka_value_format=json), keyed by detection_oid.
#ifndef CAMERA_TOP_K_KAFKA_OUTPUT_H_
#define CAMERA_TOP_K_KAFKA_OUTPUT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "brook/sink.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/detection.h"
#include "camera_top_k/generator.h"

namespace camera {

// Appends `row` as a JSON object:
//   {"window_start":MS,"window_end":MS,"geographical_location_oid":N,
//    "geographical_location":"...","item_rank":N,"item_name":"...","item_count":N}
// with null window bounds for the global window (where the CSV leaves them
// empty); `location` is "" for an unknown oid, as in the CSV.
void AppendResultJson(const ResultRow& row, const std::string& location, std::string& out);

// Appends `d` as a JSON object with Dataset A's field names,
// timestamp_detected in `unit`.
void AppendDetectionJson(const Detection& d, TimestampUnit unit, std::string& out);

// The result rows' Kafka sink. `delivery`: none, at-least-once or
// exactly-once (transactional ids "camera_top_k-<topic>-<subtask>-<n>",
// transaction.timeout.ms twice the checkpoint interval, at least 60 s and at
// most 15 min: the broker's default cap). kInvalidArgument naming
// --kafka_delivery, --kafka_brokers or --output_topic. `properties` (e.g.
// security settings) come after the sink's own and may override them.
absl::StatusOr<std::shared_ptr<brook::Sink<ResultRow>>> MakeResultKafkaSink(
    const std::string& brokers, const std::string& topic, const std::string& delivery,
    absl::Duration checkpoint_interval,
    std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names,
    const std::vector<std::pair<std::string, std::string>>& properties = {});

// Produces the generator's events for `options` to `topic` at `rate` events
// per wall-clock second (0: as fast as possible), with an idempotent
// producer, and waits until every one is acknowledged. Runs forever for an
// unbounded generator (count 0). `properties` (e.g. security settings) come
// after the producer's own. Returns the number produced; kUnavailable
// (or the client's code) when a record cannot be delivered.
absl::StatusOr<int64_t> ProduceDetections(const GeneratorOptions& options, double rate,
                                          TimestampUnit unit, const std::string& brokers,
                                          const std::string& topic,
                                          const std::vector<std::pair<std::string, std::string>>&
                                              properties = {});

}  // namespace camera

#endif  // CAMERA_TOP_K_KAFKA_OUTPUT_H_
