// File: camera_top_k/scale_out_options.h
//
// The scale-out options of the camera job (--num_processes, --process_index,
// --job_id, --repartition_by_detection, --exchange_partitions), apart from
// camera_top_k/scale_out.h so that camera_job.h stays light.
#ifndef CAMERA_TOP_K_SCALE_OUT_OPTIONS_H_
#define CAMERA_TOP_K_SCALE_OUT_OPTIONS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace camera {

struct ScaleOutOptions {
  int num_processes = 1;             // --num_processes (>= 1)
  int process_index = 0;             // --process_index, in [0, num_processes)
  std::string job_id = "camera-top-k";  // --job_id: names the exchange topics
  bool repartition_by_detection = false;  // --repartition_by_detection
  // --exchange_partitions: partitions of an exchange topic brook creates;
  // 0 = KafkaExchangeOptions' default (4). Where the cluster cannot create
  // topics (the mock auto-creates with 4) or the topic exists, its count.
  int exchange_partitions = 0;
  // Brokers of the exchange topics (the job's --kafka_brokers).
  std::string brokers;
  // librdkafka properties of the exchanges' producers and consumers (the
  // job's --kafka_property / --kafka_property_file: security settings).
  std::vector<std::pair<std::string, std::string>> properties;

  bool enabled() const { return num_processes > 1; }
  std::string topk_topic() const { return job_id + "-topk-repartition"; }
  std::string dedup_topic() const { return job_id + "-dedup-repartition"; }
};

// kInvalidArgument naming the flag: num_processes < 1, process_index out of
// range, an empty job_id, exchange_partitions < 0, and (with num_processes >
// 1) a job that cannot run split: `has_kafka_input` false, lateness or early
// firing set. --repartition_by_detection needs num_processes > 1.
absl::Status ValidateScaleOut(const ScaleOutOptions& o, bool has_kafka_input,
                              bool has_allowed_lateness, bool has_early_firing);

}  // namespace camera

#endif  // CAMERA_TOP_K_SCALE_OUT_OPTIONS_H_
