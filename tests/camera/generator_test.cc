// File: tests/camera/generator_test.cc
#include "camera_top_k/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::Not;

namespace camera {
namespace {

using ::testing::HasSubstr;

std::vector<Detection> Generate(const GeneratorOptions& options, int64_t n) {
  DetectionGenerator generator(options);
  std::vector<Detection> out;
  Detection d;
  while (static_cast<int64_t>(out.size()) < n && generator.Next(d)) {
    out.push_back(d);
  }
  return out;
}

std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) fields.push_back(field);
  return fields;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

TEST(GeneratorTest, SameSeedGivesIdenticalSequence) {
  GeneratorOptions options;
  options.seed = 7;
  options.conflict_rate = 0.2;
  const std::vector<Detection> a = Generate(options, 100'000);
  const std::vector<Detection> b = Generate(options, 100'000);
  ASSERT_EQ(a.size(), 100'000u);
  EXPECT_TRUE(a == b);
}

TEST(GeneratorTest, DifferentSeedGivesDifferentSequence) {
  GeneratorOptions options;
  options.seed = 1;
  const std::vector<Detection> a = Generate(options, 10'000);
  options.seed = 2;
  const std::vector<Detection> b = Generate(options, 10'000);
  int64_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += a[i] == b[i] ? 0 : 1;
  // Only the oid and (partly) the timestamp could coincide by construction;
  // location, camera, item and lag all change.
  EXPECT_GT(differing, 9'000);
}

// Pins the exact output, so that an accidental change of the sequence (which
// would invalidate recorded benchmarks and checkpoints) is noticed.
TEST(GeneratorTest, SequenceIsStableAcrossBuilds) {
  GeneratorOptions options;
  const std::vector<Detection> a = Generate(options, 1'000);
  uint64_t hash = 1469598103934665603ULL;
  auto mix = [&hash](uint64_t v) {
    hash ^= v;
    hash *= 1099511628211ULL;
  };
  for (const Detection& d : a) {
    mix(static_cast<uint64_t>(d.geographical_location_oid));
    mix(static_cast<uint64_t>(d.video_camera_oid));
    mix(static_cast<uint64_t>(d.detection_oid));
    for (char c : d.item_name) mix(static_cast<unsigned char>(c));
    mix(static_cast<uint64_t>(d.timestamp_detected_ms));
  }
  EXPECT_EQ(hash, 5052856994962547051u)
      << "the default sequence changed; update the golden value only on "
         "purpose";
}

TEST(GeneratorTest, CountIsRespected) {
  GeneratorOptions options;
  options.count = 12'345;
  options.duplicate_rate = 0.1;
  DetectionGenerator generator(options);
  Detection d;
  int64_t n = 0;
  while (generator.Next(d)) ++n;
  EXPECT_EQ(n, 12'345);
  EXPECT_EQ(generator.emitted(), 12'345);
  EXPECT_FALSE(generator.Next(d));
  EXPECT_EQ(generator.emitted(), 12'345);
}

TEST(GeneratorTest, UnboundedKeepsGoing) {
  GeneratorOptions options;  // count = 0.
  DetectionGenerator generator(options);
  Detection d;
  for (int i = 0; i < 50'000; ++i) ASSERT_TRUE(generator.Next(d));
}

TEST(GeneratorTest, DuplicateFractionMatchesRate) {
  for (double rate : {0.01, 0.1, 0.5}) {
    GeneratorOptions options;
    options.count = 400'000;
    options.duplicate_rate = rate;
    DetectionGenerator generator(options);
    std::set<int64_t> seen;
    Detection d;
    int64_t duplicates = 0;
    while (generator.Next(d)) {
      if (!seen.insert(d.detection_oid).second) ++duplicates;
    }
    const double observed = static_cast<double>(duplicates) / 400'000.0;
    // Binomial sd at 400k events is < 0.0008; allow ~5 sd plus the slight
    // shortfall from re-sends whose window is crowded near the end.
    EXPECT_NEAR(observed, rate, 0.004 + 0.02 * rate) << "rate " << rate;
    EXPECT_EQ(generator.resends_emitted(), duplicates);
  }
}

TEST(GeneratorTest, NoDuplicatesWhenRateIsZero) {
  GeneratorOptions options;
  options.count = 100'000;
  options.duplicate_rate = 0.0;
  std::set<int64_t> seen;
  int64_t expected_oid = options.first_detection_oid;
  for (const Detection& d : Generate(options, options.count)) {
    ASSERT_TRUE(seen.insert(d.detection_oid).second);
    ASSERT_EQ(d.detection_oid, expected_oid++);
  }
}

struct Emission {
  Detection detection;
  int64_t position;
};

TEST(GeneratorTest, ResendsRepeatTheOriginalWithinRetryDelay) {
  GeneratorOptions options;
  options.count = 300'000;
  options.duplicate_rate = 0.05;
  options.first_detection_oid = 1'000;
  DetectionGenerator generator(options);
  const int64_t window_positions = 20'000;  // 2 s at 10'000 events/s.
  std::unordered_map<int64_t, Emission> originals;
  std::set<int64_t> resent;
  Detection d;
  int64_t resends = 0;
  int64_t position = 0;
  while (generator.Next(d)) {
    auto [it, inserted] =
        originals.try_emplace(d.detection_oid, Emission{d, position});
    if (!inserted) {
      ++resends;
      EXPECT_EQ(d, it->second.detection) << "position " << position;
      EXPECT_GT(position, it->second.position);
      EXPECT_LE(position - it->second.position, window_positions);
      EXPECT_LE(generator.EmissionTimeMs(position) -
                    generator.EmissionTimeMs(it->second.position),
                2'000);
      // Never a duplicate of a duplicate.
      EXPECT_TRUE(resent.insert(d.detection_oid).second);
    }
    ++position;
  }
  EXPECT_GT(resends, 10'000);
}

TEST(GeneratorTest, ConflictingResendsDifferOnlyInItemName) {
  GeneratorOptions options;
  options.count = 200'000;
  options.duplicate_rate = 0.1;
  options.conflict_rate = 0.3;
  std::unordered_map<int64_t, Detection> originals;
  int64_t resends = 0;
  int64_t conflicts = 0;
  for (const Detection& d : Generate(options, options.count)) {
    auto [it, inserted] = originals.try_emplace(d.detection_oid, d);
    if (inserted) continue;
    ++resends;
    const Detection& o = it->second;
    EXPECT_EQ(d.geographical_location_oid, o.geographical_location_oid);
    EXPECT_EQ(d.video_camera_oid, o.video_camera_oid);
    EXPECT_EQ(d.timestamp_detected_ms, o.timestamp_detected_ms);
    if (d.item_name != o.item_name) ++conflicts;
  }
  ASSERT_GT(resends, 15'000);
  EXPECT_NEAR(static_cast<double>(conflicts) / resends, 0.3, 0.02);
}

TEST(GeneratorTest, TimestampsLagEmissionByAtMostOutOfOrder) {
  GeneratorOptions options;
  options.count = 200'000;
  options.duplicate_rate = 0.0;
  options.out_of_order = absl::Milliseconds(250);
  DetectionGenerator generator(options);
  Detection d;
  int64_t position = 0;
  int64_t min_lag = INT64_MAX;
  int64_t max_lag = INT64_MIN;
  int64_t out_of_order_pairs = 0;
  int64_t previous = INT64_MIN;
  while (generator.Next(d)) {
    // 10'000 events/s: 0.1 ms per position.
    const int64_t emission = options.start_time_ms + position / 10;
    ASSERT_EQ(generator.EmissionTimeMs(position), emission);
    const int64_t lag = emission - d.timestamp_detected_ms;
    min_lag = std::min(min_lag, lag);
    max_lag = std::max(max_lag, lag);
    out_of_order_pairs += d.timestamp_detected_ms < previous ? 1 : 0;
    previous = d.timestamp_detected_ms;
    ++position;
  }
  EXPECT_EQ(min_lag, 0);
  EXPECT_EQ(max_lag, 250);
  EXPECT_GT(out_of_order_pairs, 50'000);  // Genuinely shuffled.
}

TEST(GeneratorTest, ResendTimestampsLagByAtMostRetryPlusOutOfOrder) {
  GeneratorOptions options;
  options.count = 200'000;
  options.duplicate_rate = 0.2;
  options.retry_delay = absl::Milliseconds(500);
  options.out_of_order = absl::Milliseconds(100);
  options.events_per_second_event_time = 3'000;  // Not a divisor of 1000.
  DetectionGenerator generator(options);
  Detection d;
  int64_t position = 0;
  int64_t max_lag = 0;
  while (generator.Next(d)) {
    const int64_t lag =
        generator.EmissionTimeMs(position) - d.timestamp_detected_ms;
    ASSERT_GE(lag, 0);
    max_lag = std::max(max_lag, lag);
    ++position;
  }
  EXPECT_LE(max_lag, 600);
  EXPECT_GT(max_lag, 500);
}

TEST(GeneratorTest, ItemPopularityFollowsZipf) {
  GeneratorOptions options;
  options.count = 1'000'000;
  options.duplicate_rate = 0.0;
  std::unordered_map<std::string, int64_t> counts;
  DetectionGenerator generator(options);
  Detection d;
  while (generator.Next(d)) ++counts[d.item_name];
  EXPECT_EQ(counts.size(), 100u);
  // Weight 1 / (k + 1): item 0 is 11 times as frequent as item 10 and twice
  // item 1.
  const double top = static_cast<double>(counts[ItemName(0)]);
  EXPECT_NEAR(top / counts[ItemName(10)], 11.0, 11.0 * 0.05);
  EXPECT_NEAR(top / counts[ItemName(1)], 2.0, 2.0 * 0.03);
  // 1 / H_100 of all events.
  EXPECT_NEAR(top / 1e6, 1.0 / 5.18738, 0.003);
}

TEST(GeneratorTest, ZeroExponentIsUniform) {
  GeneratorOptions options;
  options.count = 500'000;
  options.duplicate_rate = 0.0;
  options.num_items = 10;
  options.item_zipf_s = 0.0;
  options.location_zipf_s = 0.0;
  options.num_locations = 5;
  std::unordered_map<std::string, int64_t> items;
  std::unordered_map<int64_t, int64_t> locations;
  for (const Detection& d : Generate(options, options.count)) {
    ++items[d.item_name];
    ++locations[d.geographical_location_oid];
  }
  ASSERT_EQ(items.size(), 10u);
  for (const auto& [name, n] : items) EXPECT_NEAR(n, 50'000, 1'500) << name;
  ASSERT_EQ(locations.size(), 5u);
  for (const auto& [oid, n] : locations) EXPECT_NEAR(n, 100'000, 2'000) << oid;
}

TEST(GeneratorTest, LocationsAndCamerasAreInRange) {
  GeneratorOptions options;
  options.count = 200'000;
  options.num_locations = 7;
  options.num_cameras_per_location = 3;
  std::set<int64_t> location_oids;
  std::set<int64_t> camera_oids;
  for (const Detection& d : Generate(options, options.count)) {
    ASSERT_GE(d.geographical_location_oid, 1);
    ASSERT_LE(d.geographical_location_oid, 7);
    // Each camera belongs to exactly one location.
    ASSERT_EQ((d.video_camera_oid - 1) / 3 + 1, d.geographical_location_oid);
    location_oids.insert(d.geographical_location_oid);
    camera_oids.insert(d.video_camera_oid);
    ASSERT_FALSE(d.item_name.empty());
    ASSERT_LE(d.item_name.size(), 15u);
  }
  EXPECT_EQ(location_oids.size(), 7u);
  EXPECT_EQ(camera_oids.size(), 21u);
}

TEST(GeneratorTest, LocationsAreUnique) {
  GeneratorOptions options;
  options.num_locations = 250;
  const std::vector<Location> locations =
      DetectionGenerator(options).Locations();
  ASSERT_EQ(locations.size(), 250u);
  std::set<int64_t> oids;
  std::set<std::string> names;
  for (const Location& l : locations) {
    EXPECT_TRUE(oids.insert(l.geographical_location_oid).second);
    EXPECT_TRUE(names.insert(l.geographical_location).second);
    EXPECT_GE(l.geographical_location_oid, 1);
    EXPECT_LE(l.geographical_location_oid, 250);
    EXPECT_LE(l.geographical_location.size(), kMaxLocationNameBytes);
  }
  EXPECT_EQ(locations[11].geographical_location, "Location 12 (District 2)");
}

TEST(GeneratorTest, ItemNamesAreDistinctAndReadable) {
  std::set<std::string> names;
  for (int i = 0; i < 20'000; ++i) {
    const std::string name = ItemName(i);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(name.find_first_of(",\"\r\n "), std::string::npos) << name;
  }
  EXPECT_EQ(ItemName(7), "motorcycle-0007");
}

TEST(GeneratorTest, SnapshotRestoreContinuesIdentically) {
  GeneratorOptions options;
  options.duplicate_rate = 0.1;
  options.conflict_rate = 0.1;
  DetectionGenerator original(options);
  Detection d;
  for (int i = 0; i < 33'333; ++i) ASSERT_TRUE(original.Next(d));
  const GeneratorState state = original.Snapshot();
  EXPECT_EQ(state.emitted, 33'333);
  EXPECT_FALSE(state.pending.empty());  // The re-send queue is captured too.

  std::vector<Detection> expected;
  for (int i = 0; i < 100'000; ++i) {
    ASSERT_TRUE(original.Next(d));
    expected.push_back(d);
  }

  // A fresh generator, advanced elsewhere, then restored.
  DetectionGenerator restored(options);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(restored.Next(d));
  restored.Restore(state);
  EXPECT_EQ(restored.Snapshot(), state);
  EXPECT_EQ(restored.emitted(), 33'333);
  for (int i = 0; i < 100'000; ++i) {
    ASSERT_TRUE(restored.Next(d));
    ASSERT_EQ(d, expected[i]) << "after restore, event " << i;
  }
  EXPECT_EQ(restored.Snapshot(), original.Snapshot());
}

TEST(GeneratorTest, ValidateRejectsBadOptions) {
  EXPECT_THAT(ValidateGeneratorOptions(GeneratorOptions{}), IsOk());
  GeneratorOptions options;
  options.duplicate_rate = 0.6;
  EXPECT_THAT(ValidateGeneratorOptions(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options = {};
  options.num_items = 0;
  EXPECT_THAT(ValidateGeneratorOptions(options).message(),
              HasSubstr("num_items"));
  options = {};
  options.events_per_second_event_time = std::nan("");
  EXPECT_THAT(ValidateGeneratorOptions(options), Not(IsOk()));
  options = {};
  options.num_items = 1;
  options.conflict_rate = 0.5;
  EXPECT_THAT(ValidateGeneratorOptions(options), Not(IsOk()));

  // The generator clamps instead of failing.
  options = {};
  options.duplicate_rate = 3.0;
  options.num_items = -4;
  DetectionGenerator generator(options);
  EXPECT_EQ(generator.options().duplicate_rate, 0.5);
  EXPECT_EQ(generator.options().num_items, 1);
  Detection d;
  EXPECT_TRUE(generator.Next(d));
}

TEST(GeneratorTest, WriteDetectionsCsvWritesHeaderAndRows) {
  GeneratorOptions options;
  options.count = 5'000;
  const std::string path = ::testing::TempDir() + "/generator_detections.csv";
  ASSERT_THAT(WriteDetectionsCsv(options, path, TimestampUnit::kMilliseconds), IsOk());
  const std::vector<std::string> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 5'001u);
  EXPECT_EQ(lines[0],
            "geographical_location_oid,video_camera_oid,detection_oid,"
            "item_name,timestamp_detected");
  const std::vector<Detection> expected = Generate(options, options.count);
  for (size_t i : {size_t{0}, size_t{1}, size_t{2500}, size_t{4999}}) {
    const std::vector<std::string> f = SplitCsvLine(lines[i + 1]);
    ASSERT_EQ(f.size(), 5u) << lines[i + 1];
    EXPECT_EQ(std::stoll(f[0]), expected[i].geographical_location_oid);
    EXPECT_EQ(std::stoll(f[1]), expected[i].video_camera_oid);
    EXPECT_EQ(std::stoll(f[2]), expected[i].detection_oid);
    EXPECT_EQ(f[3], expected[i].item_name);
    EXPECT_EQ(std::stoll(f[4]), expected[i].timestamp_detected_ms);
  }
}

TEST(GeneratorTest, WriteDetectionsCsvConvertsUnits) {
  GeneratorOptions options;
  options.count = 10;
  const std::vector<Detection> expected = Generate(options, options.count);
  const std::string seconds = ::testing::TempDir() + "/generator_s.csv";
  const std::string micros = ::testing::TempDir() + "/generator_us.csv";
  ASSERT_THAT(WriteDetectionsCsv(options, seconds, TimestampUnit::kSeconds), IsOk());
  ASSERT_THAT(WriteDetectionsCsv(options, micros, TimestampUnit::kMicroseconds), IsOk());
  const std::vector<std::string> s_lines = ReadLines(seconds);
  const std::vector<std::string> us_lines = ReadLines(micros);
  ASSERT_EQ(s_lines.size(), 11u);
  ASSERT_EQ(us_lines.size(), 11u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(std::stoll(SplitCsvLine(s_lines[i + 1])[4]),
              expected[i].timestamp_detected_ms / 1000);
    EXPECT_EQ(std::stoll(SplitCsvLine(us_lines[i + 1])[4]),
              expected[i].timestamp_detected_ms * 1000);
  }
}

TEST(GeneratorTest, WriteDetectionsCsvNeedsABoundedCount) {
  GeneratorOptions options;  // count = 0: unbounded.
  EXPECT_THAT(WriteDetectionsCsv(options, ::testing::TempDir() + "/never.csv",
                               TimestampUnit::kMilliseconds)
                , StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(GeneratorTest, WriteErrorsAreUnavailableAndNameThePath) {
  GeneratorOptions options;
  options.count = 10;
  const std::string path = ::testing::TempDir() + "/no/such/dir/detections.csv";
  const absl::Status status =
      WriteDetectionsCsv(options, path, TimestampUnit::kMilliseconds);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(status.message(), HasSubstr(path));
  const absl::Status locations_status = WriteLocationsCsv({}, path);
  EXPECT_THAT(locations_status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(locations_status.message(), HasSubstr(path));
}

TEST(GeneratorTest, WriteLocationsCsvQuotesSpecialCharacters) {
  std::vector<Location> locations = DetectionGenerator({}).Locations();
  locations.resize(3);
  locations.push_back({99, "Main St, \"North\" gate"});
  const std::string path = ::testing::TempDir() + "/generator_locations.csv";
  ASSERT_THAT(WriteLocationsCsv(locations, path), IsOk());
  const std::vector<std::string> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "geographical_location_oid,geographical_location");
  EXPECT_EQ(lines[1], "1,Location 1 (District 1)");
  EXPECT_EQ(lines[4], "99,\"Main St, \"\"North\"\" gate\"");
}

}  // namespace
}  // namespace camera
