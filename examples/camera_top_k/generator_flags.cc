#include "camera_top_k/generator_flags.h"

#include <cstdint>

#include "absl/flags/flag.h"
#include "absl/time/time.h"

ABSL_FLAG(bool, generate, false, "Use the built-in synthetic live source instead of "
                                 "--detections.");
ABSL_FLAG(double, generate_rate, 0, "Generator: events per second; 0 = as fast as possible.");
ABSL_FLAG(int64_t, generate_count, 1000000,
          "Generator: events to produce, re-sends included; 0 = unbounded.");
ABSL_FLAG(int, generate_locations, 50, "Generator: number of locations.");
ABSL_FLAG(int, generate_cameras, 4, "Generator: cameras per location.");
ABSL_FLAG(int, generate_items, 100, "Generator: number of distinct item names.");
ABSL_FLAG(double, generate_item_skew, 1.0, "Generator: Zipf exponent of items (0 = uniform).");
ABSL_FLAG(double, generate_location_skew, 0.5,
          "Generator: Zipf exponent of locations (0 = uniform).");
ABSL_FLAG(double, generate_duplicate_rate, 0.01,
          "Generator: fraction of events that are re-sends of an earlier detection.");
ABSL_FLAG(absl::Duration, generate_retry_delay, absl::Seconds(2),
          "Generator: a re-send comes up to this much (event time) after the original.");
ABSL_FLAG(absl::Duration, generate_out_of_order, absl::Seconds(1),
          "Generator: timestamps lag their emission by up to this much.");
ABSL_FLAG(double, generate_events_per_second, 10000,
          "Generator: how fast event time advances, in events per event-time second.");
ABSL_FLAG(uint64_t, generate_seed, 42, "Generator: seed; the same seed gives the same events.");

namespace camera {

GeneratorOptions GeneratorOptionsFromFlags() {
  GeneratorOptions g;
  g.count = absl::GetFlag(FLAGS_generate_count);
  g.num_locations = absl::GetFlag(FLAGS_generate_locations);
  g.num_cameras_per_location = absl::GetFlag(FLAGS_generate_cameras);
  g.num_items = absl::GetFlag(FLAGS_generate_items);
  g.item_zipf_s = absl::GetFlag(FLAGS_generate_item_skew);
  g.location_zipf_s = absl::GetFlag(FLAGS_generate_location_skew);
  g.duplicate_rate = absl::GetFlag(FLAGS_generate_duplicate_rate);
  g.retry_delay = absl::GetFlag(FLAGS_generate_retry_delay);
  g.out_of_order = absl::GetFlag(FLAGS_generate_out_of_order);
  g.events_per_second_event_time = absl::GetFlag(FLAGS_generate_events_per_second);
  g.seed = absl::GetFlag(FLAGS_generate_seed);
  return g;
}

}  // namespace camera
