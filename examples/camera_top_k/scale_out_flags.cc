#include "camera_top_k/scale_out_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(int, num_processes, 1,
          "Processes that run this job together over Kafka, each with the same flags but "
          "--process_index and its own --checkpoint_dir (docs/scale-out.md). Needs "
          "--detections_topic.");
ABSL_FLAG(int, process_index, 0, "This process's index among --num_processes, 0-based.");
ABSL_FLAG(std::string, job_id, "camera-top-k",
          "Names the exchange topics of a scaled-out job: JOB_ID-topk-repartition and "
          "JOB_ID-dedup-repartition.");
ABSL_FLAG(bool, repartition_by_detection, false,
          "With --num_processes > 1: first route the detections by detection_oid through "
          "JOB_ID-dedup-repartition, for a topic not keyed by detection_oid (deduplication "
          "needs every copy of a detection in one process).");
ABSL_FLAG(int, exchange_partitions, 0,
          "Partitions of an exchange topic when brook creates it; 0 = 4. An existing topic "
          "keeps its count.");

namespace camera {

ScaleOutOptions ScaleOutOptionsFromFlags() {
  ScaleOutOptions o;
  o.num_processes = absl::GetFlag(FLAGS_num_processes);
  o.process_index = absl::GetFlag(FLAGS_process_index);
  o.job_id = absl::GetFlag(FLAGS_job_id);
  o.repartition_by_detection = absl::GetFlag(FLAGS_repartition_by_detection);
  o.exchange_partitions = absl::GetFlag(FLAGS_exchange_partitions);
  return o;
}

}  // namespace camera
