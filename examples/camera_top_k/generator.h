// File: camera_top_k/generator.h
//
// A synthetic, reproducible source of Dataset A (detections) and Dataset B
// (locations) for the camera job: tests, benchmarks and demos need input of
// any size with known statistics, without shipping data files.
//
// Contract:
//  - Emission positions are numbered 0, 1, 2, ... over everything Next()
//    returns, re-sends included. Position i has the emission time
//    EmissionTimeMs(i) = start_time_ms + floor(i * 1000 / events_per_second)
//    (event-time milliseconds; the stream's "now" when the event goes out).
//  - An original detection at position i is stamped
//    timestamp_detected_ms = EmissionTimeMs(i) - U, with U a uniform integer
//    in [0, out_of_order] milliseconds, so the stream is out of order by at
//    most out_of_order.
//  - A re-send repeats an earlier original (same detection_oid, same
//    timestamp_detected_ms, same location and camera, same item_name unless it
//    is a "conflict") between 1 and max(1, retry_delay * events_per_second)
//    positions after it, i.e. at most retry_delay later in emission time.
//    Each original is re-sent at most once, and re-sends are never re-sent.
//  - Determinism: the same options (seed included) give the identical
//    sequence on every run. The generator uses its own PRNG (xoshiro256**)
//    and integer arithmetic for every draw; only the Zipf tables are built
//    with std::pow, so bit-identical output across platforms also needs
//    libms whose pow agrees to the last bit.
//  - Thread safety: none. One generator per thread.
#ifndef CAMERA_TOP_K_GENERATOR_H_
#define CAMERA_TOP_K_GENERATOR_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "brook/source.h"
#include "camera_top_k/detection.h"

namespace camera {

// Upper bound on re-sends waiting to go out, so that extreme options
// (huge retry_delay * rate) cannot exhaust memory. Beyond it, re-sends are
// skipped and the observed duplicate fraction falls short of duplicate_rate.
inline constexpr size_t kMaxPendingResends = size_t{1} << 20;
// Upper bound on num_items and num_locations: each costs a table entry (and
// an item a pre-built name), built up front.
inline constexpr int kMaxTableSize = 1 << 24;

struct GeneratorOptions {
  // Events Next() produces before returning false, re-sends included.
  // 0 = unbounded. Default 0.
  int64_t count = 0;
  // Locations in Dataset B, at most kMaxTableSize; location oids are
  // 1..num_locations. Default 50.
  int num_locations = 50;
  // Cameras per location. Camera oids are globally unique: location L owns
  // (L - 1) * num_cameras_per_location + 1 ... L * num_cameras_per_location.
  // Default 4.
  int num_cameras_per_location = 4;
  // Distinct item names, at most kMaxTableSize. Default 100.
  int num_items = 100;
  // Zipf exponent of item popularity: item of rank k (0-based) has weight
  // 1 / (k + 1)^s, so ItemName(0) is the most frequent. 0 = uniform.
  // Default 1.0.
  double item_zipf_s = 1.0;
  // Zipf exponent of location popularity (location oid 1 is the hottest);
  // the camera within a location is uniform. Default 0.5.
  double location_zipf_s = 0.5;
  // Fraction of emitted events that are re-sends of an earlier detection,
  // in [0, 0.5] (each original is re-sent at most once, which caps it at
  // one half). Default 0.01.
  double duplicate_rate = 0.01;
  // Longest gap in emission time between an original and its re-send
  // (uniform over the positions in that window). A re-send keeps the
  // original's timestamp_detected_ms, so it arrives up to
  // retry_delay + out_of_order behind the stream's emission time.
  // At most 365 days. Default 2 s.
  absl::Duration retry_delay = absl::Seconds(2);
  // Largest amount by which an original's timestamp lags its emission time
  // (uniform, whole milliseconds), at most 365 days. Default 1 s.
  absl::Duration out_of_order = absl::Seconds(1);
  // Emission time of position 0, epoch milliseconds. Default
  // 1'700'000'000'000 (2023-11-14).
  int64_t start_time_ms = 1'700'000'000'000;
  // Event-time rate: emitted events per second of emission time (not wall
  // time; Next() is as fast as the CPU allows), in [0.001, 1e12].
  // Default 10000, i.e. event time advances 0.1 ms per event.
  double events_per_second_event_time = 10000.0;
  // detection_oid of the first original; originals count up from it.
  // Default 1.
  int64_t first_detection_oid = 1;
  // PRNG seed. Default 42.
  uint64_t seed = 42;
  // Fraction of re-sends whose item_name differs from the original's (a
  // buggy upstream), in [0, 1]; needs num_items >= 2. Default 0.
  double conflict_rate = 0.0;
};

// OK, or kInvalidArgument naming the first out-of-range field.
// DetectionGenerator clamps such fields instead of failing; call this where
// options come from a user.
absl::Status ValidateGeneratorOptions(const GeneratorOptions& options);

// Name of the item of popularity rank `index` (0-based), e.g. "car-0001":
// short, ASCII, no CSV-special characters, unique per index.
std::string ItemName(int index);

// Name of location `oid` in Dataset B, e.g. "Location 12 (District 2)".
std::string LocationName(int64_t oid);

// A re-send waiting for its emission position.
struct PendingResend {
  int64_t position = 0;  // Emission position it goes out at.
  int64_t geographical_location_oid = 0;
  int64_t video_camera_oid = 0;
  int64_t detection_oid = 0;
  int64_t timestamp_detected_ms = 0;
  int32_t item_index = 0;  // Already differs from the original's if a conflict.

  friend bool operator==(const PendingResend&, const PendingResend&) = default;
};

// Everything that changes while generating: enough, with the options, to
// continue the sequence exactly (e.g. from a checkpoint).
struct GeneratorState {
  std::array<uint64_t, 4> rng{};       // xoshiro256** state words.
  int64_t emitted = 0;                 // Next position.
  int64_t originals = 0;               // Originals emitted so far.
  int64_t resends = 0;                 // Re-sends emitted so far.
  std::vector<PendingResend> pending;  // Ascending position, all >= emitted.

  friend bool operator==(const GeneratorState&,
                         const GeneratorState&) = default;
};

class DetectionGenerator {
 public:
  // Out-of-range options are clamped (see ValidateGeneratorOptions).
  explicit DetectionGenerator(GeneratorOptions options);

  DetectionGenerator(const DetectionGenerator&) = default;
  DetectionGenerator& operator=(const DetectionGenerator&) = default;
  DetectionGenerator(DetectionGenerator&&) = default;
  DetectionGenerator& operator=(DetectionGenerator&&) = default;

  // Writes the next event into `out` (reusing its string capacity) and
  // returns true, or returns false once `count` events were produced.
  // Re-sends still pending at that point are never emitted.
  bool Next(Detection& out);

  // Events produced so far, re-sends included (= the next position).
  int64_t emitted() const { return emitted_; }
  // Re-sends among them.
  int64_t resends_emitted() const { return resends_; }

  // Emission time of `position`, epoch milliseconds (see the file comment).
  int64_t EmissionTimeMs(int64_t position) const;

  // Dataset B for these options: one row per location oid, ascending.
  std::vector<Location> Locations() const;

  // The options after clamping.
  const GeneratorOptions& options() const { return options_; }

  GeneratorState Snapshot() const;
  // `state` must come from Snapshot() of a generator with the same options;
  // the sequence then continues exactly where that one was.
  void Restore(const GeneratorState& state);
  // Whether `state` can come from a generator with these options (so that
  // Restore() of decoded checkpoint bytes cannot index out of its tables):
  // kDataLoss naming the first impossible field.
  absl::Status CheckState(const GeneratorState& state) const;

 private:
  // Walker/Vose alias table: O(1) sampling from one 64-bit draw.
  class AliasTable {
   public:
    AliasTable() = default;
    explicit AliasTable(const std::vector<double>& weights);
    int Sample(uint64_t draw) const;

   private:
    std::vector<uint64_t> threshold_;  // Keep column i if fraction < this.
    std::vector<int32_t> alias_;
  };

  uint64_t NextRandom();
  // Uniform integer in [0, bound] (bound >= 0).
  uint64_t UniformInclusive(uint64_t bound);
  void ScheduleResend(const PendingResend& original);

  GeneratorOptions options_;
  std::vector<std::string> item_names_;
  AliasTable item_table_;
  AliasTable location_table_;
  double ms_per_event_ = 0.0;
  int64_t out_of_order_ms_ = 0;
  int64_t retry_window_ = 1;         // Positions; >= 1.
  uint64_t resend_threshold_ = 0;    // P(schedule a re-send) * 2^64.
  uint64_t conflict_threshold_ = 0;  // P(conflict | re-send) * 2^64.

  std::array<uint64_t, 4> rng_{};
  int64_t emitted_ = 0;
  int64_t originals_ = 0;
  int64_t resends_ = 0;
  // Keyed by emission position: at most one re-send per position, so each
  // goes out exactly at its position and the retry_delay bound is strict.
  std::map<int64_t, PendingResend> pending_;
};

// GeneratorState as checkpoint bytes (brook::DataOutputView encoding with a
// leading format version), and back: DecodeGeneratorState returns kDataLoss
// for bytes that do not decode (truncated, trailing bytes, unknown version).
std::string EncodeGeneratorState(const GeneratorState& state);
absl::Status DecodeGeneratorState(std::string_view bytes, GeneratorState* state);

// The generator as a brook source of one reader (parallelism 1); bounded when
// it has a count and no pacing, otherwise a live (unbounded) source. Records
// carry line number 0 and their timestamp_detected_ms as timestamp. The
// reader's checkpoint state is its GeneratorState (EncodeGeneratorState); a
// restored reader emits exactly the records that followed the snapshot, and
// a paced one resumes pacing at the restored position.
class DetectionGeneratorSource final : public brook::Source<SourceRecord> {
 public:
  // `rate`: events per wall-clock second, 0 = as fast as possible.
  DetectionGeneratorSource(GeneratorOptions options, double rate)
      : options_(options), rate_(rate) {}
  brook::Boundedness boundedness() const override {
    return options_.count > 0 && rate_ <= 0 ? brook::Boundedness::kBounded
                                            : brook::Boundedness::kContinuousUnbounded;
  }
  // kFailedPrecondition at a parallelism other than 1.
  absl::StatusOr<std::unique_ptr<brook::SourceReader<SourceRecord>>> CreateReader(
      const brook::SourceReaderContext& ctx) override;

 private:
  GeneratorOptions options_;
  double rate_;
};

// Writes Dataset A for `options` (count must be > 0) to `path` as CSV with
// header geographical_location_oid,video_camera_oid,detection_oid,item_name,
// timestamp_detected, timestamps in `unit` (seconds are floored).
// I/O errors -> kUnavailable naming the path.
absl::Status WriteDetectionsCsv(const GeneratorOptions& options,
                                const std::string& path, TimestampUnit unit);

// Writes Dataset B to `path` as CSV with header
// geographical_location_oid,geographical_location, quoting per RFC 4180.
// I/O errors -> kUnavailable naming the path.
absl::Status WriteLocationsCsv(const std::vector<Location>& locations,
                               const std::string& path);

}  // namespace camera

#endif  // CAMERA_TOP_K_GENERATOR_H_
