// File: camera_top_k/generator.cc
#include "camera_top_k/generator.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "brook/serialization.h"
#include "brook/status.h"
#include "fmt/format.h"

namespace camera {
namespace {

// 2^64 as a double: scales a probability to a 64-bit comparison threshold.
constexpr double kTwoPow64 = 18446744073709551616.0;
// Event-time spans are capped so that timestamp arithmetic cannot overflow.
constexpr absl::Duration kMaxSpan = absl::Hours(24 * 365);
constexpr double kMinEventsPerSecond = 1e-3;
constexpr double kMaxEventsPerSecond = 1e12;
constexpr double kMaxDuplicateRate = 0.5;
// Flush the CSV formatting buffer to the file past this many bytes.
constexpr size_t kCsvChunkBytes = size_t{1} << 20;

// Common camera-detection classes: names read like real output but stay
// short enough (<= 10 chars + "-NNNN") for std::string's small buffer, so
// that a fresh Detection never allocates for its item_name.
constexpr std::string_view kNouns[] = {
    "person", "car",        "bicycle",  "dog",      "cat",     "truck",
    "bus",    "motorcycle", "backpack", "umbrella", "handbag", "suitcase",
    "bottle", "chair",      "laptop",   "phone"};
constexpr int kNumNouns = static_cast<int>(std::size(kNouns));

uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// floor(a * b / 2^64): maps a uniform 64-bit draw onto [0, b) with bias
// below b / 2^64, portably and without a division.
inline uint64_t MulHi(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
}

// Probability -> threshold t such that P(draw < t) == p (up to 2^-64).
uint64_t ProbabilityThreshold(double p) {
  if (!(p > 0.0)) return 0;
  const double scaled = p * kTwoPow64;
  if (scaled >= kTwoPow64) return UINT64_MAX;
  return static_cast<uint64_t>(scaled);
}

std::vector<double> ZipfWeights(int n, double s) {
  std::vector<double> weights(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    weights[k] = s == 0.0 ? 1.0 : 1.0 / std::pow(static_cast<double>(k + 1), s);
  }
  return weights;
}

// Clamp that maps NaN to `lo`, so that garbage options still give a
// well-defined generator.
double ClampDouble(double v, double lo, double hi) {
  if (!(v >= lo)) return lo;
  return v > hi ? hi : v;
}

absl::Duration ClampSpan(absl::Duration d) {
  return std::clamp(d, absl::ZeroDuration(), kMaxSpan);
}

GeneratorOptions Clamped(GeneratorOptions o) {
  o.count = std::max<int64_t>(o.count, 0);
  o.num_locations = std::clamp(o.num_locations, 1, kMaxTableSize);
  o.num_cameras_per_location =
      std::clamp(o.num_cameras_per_location, 1, kMaxTableSize);
  o.num_items = std::clamp(o.num_items, 1, kMaxTableSize);
  o.item_zipf_s = ClampDouble(o.item_zipf_s, 0.0, 1e3);
  o.location_zipf_s = ClampDouble(o.location_zipf_s, 0.0, 1e3);
  o.duplicate_rate = ClampDouble(o.duplicate_rate, 0.0, kMaxDuplicateRate);
  o.retry_delay = ClampSpan(o.retry_delay);
  o.out_of_order = ClampSpan(o.out_of_order);
  o.events_per_second_event_time = ClampDouble(
      o.events_per_second_event_time, kMinEventsPerSecond, kMaxEventsPerSecond);
  o.conflict_rate =
      o.num_items < 2 ? 0.0 : ClampDouble(o.conflict_rate, 0.0, 1.0);
  return o;
}

void AppendQuotedField(fmt::memory_buffer& buf, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    buf.append(field);
    return;
  }
  buf.push_back('"');
  for (char c : field) {
    if (c == '"') buf.push_back('"');
    buf.push_back(c);
  }
  buf.push_back('"');
}

int64_t ConvertTimestamp(int64_t ms, TimestampUnit unit) {
  switch (unit) {
    case TimestampUnit::kSeconds:
      // Floor, not truncation, so that pre-1970 times stay ordered.
      return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    case TimestampUnit::kMilliseconds:
      return ms;
    case TimestampUnit::kMicroseconds:
      return ms * 1000;
  }
  return ms;
}

// Buffered CSV writer over a FILE*: formats into memory and writes in large
// chunks, turning every I/O failure into kUnavailable naming the path.
class CsvFile {
 public:
  explicit CsvFile(std::string path) : path_(std::move(path)) {}
  CsvFile(const CsvFile&) = delete;
  CsvFile& operator=(const CsvFile&) = delete;
  ~CsvFile() {
    if (file_ != nullptr) std::fclose(file_);
  }

  absl::Status Open() {
    file_ = std::fopen(path_.c_str(), "wb");
    if (file_ == nullptr) return Error("cannot open");
    return absl::OkStatus();
  }

  fmt::memory_buffer& buffer() { return buf_; }

  absl::Status MaybeFlush() {
    return buf_.size() >= kCsvChunkBytes ? Flush() : absl::OkStatus();
  }

  absl::Status Close() {
    absl::Status status = Flush();
    FILE* file = std::exchange(file_, nullptr);
    if (std::fclose(file) != 0 && status.ok()) status = Error("cannot close");
    return status;
  }

 private:
  absl::Status Flush() {
    if (buf_.size() != 0 &&
        std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) {
      return Error("cannot write");
    }
    buf_.clear();
    return absl::OkStatus();
  }

  absl::Status Error(std::string_view what) const {
    const int err = errno;
    return absl::UnavailableError(
        fmt::format("{} {}: {}", what, path_, std::strerror(err)));
  }

  std::string path_;
  FILE* file_ = nullptr;
  fmt::memory_buffer buf_;
};

}  // namespace

absl::Status ValidateGeneratorOptions(const GeneratorOptions& o) {
  auto bad = [](std::string_view field, std::string_view want) {
    return absl::InvalidArgumentError(
        fmt::format("GeneratorOptions.{} must be {}", field, want));
  };
  if (o.count < 0) return bad("count", ">= 0");
  if (o.num_locations < 1 || o.num_locations > kMaxTableSize) {
    return bad("num_locations", fmt::format("in [1, {}]", kMaxTableSize));
  }
  if (o.num_cameras_per_location < 1 ||
      o.num_cameras_per_location > kMaxTableSize) {
    return bad("num_cameras_per_location",
               fmt::format("in [1, {}]", kMaxTableSize));
  }
  if (o.num_items < 1 || o.num_items > kMaxTableSize) {
    return bad("num_items", fmt::format("in [1, {}]", kMaxTableSize));
  }
  if (!(o.item_zipf_s >= 0.0 && o.item_zipf_s <= 1e3)) {
    return bad("item_zipf_s", "in [0, 1000]");
  }
  if (!(o.location_zipf_s >= 0.0 && o.location_zipf_s <= 1e3)) {
    return bad("location_zipf_s", "in [0, 1000]");
  }
  if (!(o.duplicate_rate >= 0.0 && o.duplicate_rate <= kMaxDuplicateRate)) {
    return bad("duplicate_rate", "in [0, 0.5]");
  }
  if (o.retry_delay < absl::ZeroDuration() || o.retry_delay > kMaxSpan) {
    return bad("retry_delay", "in [0, 365 days]");
  }
  if (o.out_of_order < absl::ZeroDuration() || o.out_of_order > kMaxSpan) {
    return bad("out_of_order", "in [0, 365 days]");
  }
  if (!(o.events_per_second_event_time >= kMinEventsPerSecond &&
        o.events_per_second_event_time <= kMaxEventsPerSecond)) {
    return bad("events_per_second_event_time", "in [0.001, 1e12]");
  }
  if (!(o.conflict_rate >= 0.0 && o.conflict_rate <= 1.0)) {
    return bad("conflict_rate", "in [0, 1]");
  }
  if (o.conflict_rate > 0.0 && o.num_items < 2) {
    return bad("num_items", ">= 2 when conflict_rate > 0");
  }
  return absl::OkStatus();
}

std::string ItemName(int index) {
  const int noun = ((index % kNumNouns) + kNumNouns) % kNumNouns;
  return fmt::format("{}-{:04d}", kNouns[noun], index);
}

std::string LocationName(int64_t oid) {
  return fmt::format("Location {} (District {})", oid, (oid - 1) / 10 + 1);
}

// Vose's alias method. Build order is fixed (index order, LIFO worklists) so
// the table, hence the sequence, depends on the weights only.
DetectionGenerator::AliasTable::AliasTable(const std::vector<double>& weights) {
  const size_t n = weights.size();
  threshold_.assign(n, UINT64_MAX);
  alias_.resize(n);
  double sum = 0.0;
  for (double w : weights) sum += w;
  std::vector<double> scaled(n);
  std::vector<int32_t> small, large;
  for (size_t i = 0; i < n; ++i) {
    alias_[i] = static_cast<int32_t>(i);
    scaled[i] = weights[i] * static_cast<double>(n) / sum;
    (scaled[i] < 1.0 ? small : large).push_back(static_cast<int32_t>(i));
  }
  while (!small.empty() && !large.empty()) {
    const int32_t l = small.back();
    small.pop_back();
    const int32_t g = large.back();
    large.pop_back();
    threshold_[l] = ProbabilityThreshold(scaled[l]);
    alias_[l] = g;
    scaled[g] = (scaled[g] + scaled[l]) - 1.0;
    (scaled[g] < 1.0 ? small : large).push_back(g);
  }
  // Leftovers have probability 1 up to rounding: keep threshold UINT64_MAX
  // and alias to themselves, so either outcome of the coin is the column.
}

inline int DetectionGenerator::AliasTable::Sample(uint64_t draw) const {
  // The high half picks the column, the low half is an independent uniform
  // fraction for the coin: one draw per sample.
  const unsigned __int128 product =
      static_cast<unsigned __int128>(draw) * threshold_.size();
  const auto column = static_cast<size_t>(product >> 64);
  const auto fraction = static_cast<uint64_t>(product);
  return fraction < threshold_[column] ? static_cast<int>(column)
                                       : alias_[column];
}

DetectionGenerator::DetectionGenerator(GeneratorOptions options)
    : options_(Clamped(std::move(options))) {
  item_names_.reserve(static_cast<size_t>(options_.num_items));
  for (int i = 0; i < options_.num_items; ++i) {
    item_names_.push_back(ItemName(i));
  }
  item_table_ =
      AliasTable(ZipfWeights(options_.num_items, options_.item_zipf_s));
  location_table_ =
      AliasTable(ZipfWeights(options_.num_locations, options_.location_zipf_s));
  out_of_order_ms_ = absl::ToInt64Milliseconds(options_.out_of_order);

  // The largest W whose span W * 1000 / rate fits in retry_delay; exact for
  // integral rates, which is what makes the retry_delay bound strict.
  const double eps = options_.events_per_second_event_time;
  const int64_t retry_ms = absl::ToInt64Milliseconds(options_.retry_delay);
  double window = std::floor(static_cast<double>(retry_ms) * eps / 1000.0);
  window = std::min(window, 0x1p62);
  retry_window_ = static_cast<int64_t>(window);
  if (retry_window_ > 0 && static_cast<double>(retry_window_) * 1000.0 / eps >
                               static_cast<double>(retry_ms)) {
    --retry_window_;
  }
  retry_window_ = std::max<int64_t>(retry_window_, 1);

  // Each original is re-sent with probability q; re-sends then make up
  // q / (1 + q) of the stream, so q = r / (1 - r) yields the rate r.
  const double r = options_.duplicate_rate;
  resend_threshold_ = ProbabilityThreshold(r / (1.0 - r));
  conflict_threshold_ = ProbabilityThreshold(options_.conflict_rate);

  uint64_t sm = options_.seed;
  for (uint64_t& word : rng_) word = SplitMix64(sm);
  // xoshiro's only bad state; SplitMix64 cannot in practice produce it.
  if (rng_ == std::array<uint64_t, 4>{}) rng_[0] = 1;
}

inline uint64_t DetectionGenerator::NextRandom() {
  // xoshiro256**: fast, 256-bit state, fully specified output.
  const uint64_t result = Rotl(rng_[1] * 5, 7) * 9;
  const uint64_t t = rng_[1] << 17;
  rng_[2] ^= rng_[0];
  rng_[3] ^= rng_[1];
  rng_[1] ^= rng_[2];
  rng_[0] ^= rng_[3];
  rng_[2] ^= t;
  rng_[3] = Rotl(rng_[3], 45);
  return result;
}

inline uint64_t DetectionGenerator::UniformInclusive(uint64_t bound) {
  const uint64_t draw = NextRandom();
  return bound == UINT64_MAX ? draw : MulHi(draw, bound + 1);
}

int64_t DetectionGenerator::EmissionTimeMs(int64_t position) const {
  // position * 1000 is exact in a double, and the quotient is correctly
  // rounded, so integral rates give exact floors.
  return options_.start_time_ms + static_cast<int64_t>(std::floor(
                                      static_cast<double>(position) * 1000.0 /
                                      options_.events_per_second_event_time));
}

bool DetectionGenerator::Next(Detection& out) {
  if (options_.count > 0 && emitted_ >= options_.count) return false;
  const int64_t position = emitted_;
  if (!pending_.empty() && pending_.begin()->first == position) {
    const auto node = pending_.begin();
    const PendingResend& resend = node->second;
    out.geographical_location_oid = resend.geographical_location_oid;
    out.video_camera_oid = resend.video_camera_oid;
    out.detection_oid = resend.detection_oid;
    out.item_name = item_names_[static_cast<size_t>(resend.item_index)];
    out.timestamp_detected_ms = resend.timestamp_detected_ms;
    pending_.erase(node);
    ++resends_;
  } else {
    const int location = location_table_.Sample(NextRandom());
    const auto camera = static_cast<int64_t>(UniformInclusive(
        static_cast<uint64_t>(options_.num_cameras_per_location - 1)));
    const int item = item_table_.Sample(NextRandom());
    const auto lag = static_cast<int64_t>(
        UniformInclusive(static_cast<uint64_t>(out_of_order_ms_)));
    PendingResend original;
    original.geographical_location_oid = location + 1;
    original.video_camera_oid =
        int64_t{location} * options_.num_cameras_per_location + camera + 1;
    original.detection_oid = options_.first_detection_oid + originals_;
    original.timestamp_detected_ms = EmissionTimeMs(position) - lag;
    original.item_index = item;
    out.geographical_location_oid = original.geographical_location_oid;
    out.video_camera_oid = original.video_camera_oid;
    out.detection_oid = original.detection_oid;
    out.item_name = item_names_[static_cast<size_t>(item)];
    out.timestamp_detected_ms = original.timestamp_detected_ms;
    ++originals_;
    if (resend_threshold_ != 0 && NextRandom() < resend_threshold_) {
      ScheduleResend(original);
    }
  }
  ++emitted_;
  return true;
}

void DetectionGenerator::ScheduleResend(const PendingResend& original) {
  const int64_t now = emitted_;
  int64_t last = now + retry_window_;
  // A bounded stream keeps its re-sends inside it, so that none is dropped
  // at the end and the observed rate matches duplicate_rate.
  if (options_.count > 0) last = std::min(last, options_.count - 1);
  if (last <= now || pending_.size() >= kMaxPendingResends) return;

  PendingResend resend = original;
  const int64_t target = now + 1 +
                         static_cast<int64_t>(UniformInclusive(
                             static_cast<uint64_t>(last - now - 1)));
  if (conflict_threshold_ != 0 && NextRandom() < conflict_threshold_) {
    const auto n = static_cast<uint64_t>(options_.num_items);
    resend.item_index =
        static_cast<int32_t>((static_cast<uint64_t>(original.item_index) + 1 +
                              UniformInclusive(n - 2)) %
                             n);
  }

  // One re-send per position: take the first free one at or after the
  // target, wrapping around to the window's start.
  auto first_free = [this](int64_t from, int64_t to) -> std::optional<int64_t> {
    int64_t candidate = from;
    for (auto it = pending_.lower_bound(from);
         candidate <= to && it != pending_.end() && it->first == candidate;
         ++it) {
      ++candidate;
    }
    if (candidate > to) return std::nullopt;
    return candidate;
  };
  std::optional<int64_t> slot = first_free(target, last);
  if (!slot) slot = first_free(now + 1, target - 1);
  if (!slot) return;  // Window full: skipping keeps the delay bound strict.
  resend.position = *slot;
  pending_.emplace(*slot, resend);
}

std::vector<Location> DetectionGenerator::Locations() const {
  std::vector<Location> locations;
  locations.reserve(static_cast<size_t>(options_.num_locations));
  for (int64_t oid = 1; oid <= options_.num_locations; ++oid) {
    locations.push_back(Location{oid, LocationName(oid)});
  }
  return locations;
}

GeneratorState DetectionGenerator::Snapshot() const {
  GeneratorState state;
  state.rng = rng_;
  state.emitted = emitted_;
  state.originals = originals_;
  state.resends = resends_;
  state.pending.reserve(pending_.size());
  for (const auto& [position, resend] : pending_) {
    state.pending.push_back(resend);
  }
  return state;
}

void DetectionGenerator::Restore(const GeneratorState& state) {
  rng_ = state.rng;
  emitted_ = state.emitted;
  originals_ = state.originals;
  resends_ = state.resends;
  pending_.clear();
  for (const PendingResend& resend : state.pending) {
    pending_.emplace_hint(pending_.end(), resend.position, resend);
  }
}

absl::Status DetectionGenerator::CheckState(const GeneratorState& state) const {
  auto bad = [](const std::string& why) {
    return absl::DataLossError(absl::StrCat("generator state: ", why));
  };
  if (state.emitted < 0 || state.originals < 0 || state.resends < 0 ||
      state.originals + state.resends != state.emitted) {
    return bad("counters do not add up");
  }
  if (options_.count > 0 && state.emitted > options_.count) {
    return bad(absl::StrCat("position ", state.emitted, " is past the generator's count ",
                            options_.count, " (different options?)"));
  }
  int64_t previous = state.emitted - 1;
  for (const PendingResend& r : state.pending) {
    if (r.position <= previous) return bad("pending re-sends out of order");
    previous = r.position;
    if (r.item_index < 0 || r.item_index >= options_.num_items) {
      return bad(absl::StrCat("item index ", r.item_index, " is not below num_items ",
                              options_.num_items, " (different options?)"));
    }
  }
  if (state.pending.size() > kMaxPendingResends) return bad("too many pending re-sends");
  return absl::OkStatus();
}

namespace {
constexpr uint8_t kGeneratorStateVersion = 1;
}  // namespace

std::string EncodeGeneratorState(const GeneratorState& state) {
  std::string bytes;
  brook::DataOutputView out(&bytes);
  out.WriteUint8(kGeneratorStateVersion);
  for (uint64_t word : state.rng) out.WriteUint64(word);
  out.WriteInt64(state.emitted);
  out.WriteInt64(state.originals);
  out.WriteInt64(state.resends);
  out.WriteVarint(state.pending.size());
  for (const PendingResend& r : state.pending) {
    out.WriteInt64(r.position);
    out.WriteInt64(r.geographical_location_oid);
    out.WriteInt64(r.video_camera_oid);
    out.WriteInt64(r.detection_oid);
    out.WriteInt64(r.timestamp_detected_ms);
    out.WriteInt32(r.item_index);
  }
  return bytes;
}

absl::Status DecodeGeneratorState(std::string_view bytes, GeneratorState* state) {
  brook::DataInputView in(bytes);
  uint8_t version = 0;
  BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
  if (version != kGeneratorStateVersion) {
    return absl::DataLossError(absl::StrCat("generator state: unknown version ", version));
  }
  for (uint64_t& word : state->rng) BROOK_RETURN_IF_ERROR(in.ReadUint64(&word));
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&state->emitted));
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&state->originals));
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&state->resends));
  size_t n = 0;
  constexpr size_t kBytesPerResend = 5 * 8 + 4;
  BROOK_RETURN_IF_ERROR(in.ReadLength(&n, kBytesPerResend));
  state->pending.clear();
  state->pending.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    PendingResend& r = state->pending.emplace_back();
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r.position));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r.geographical_location_oid));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r.video_camera_oid));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r.detection_oid));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r.timestamp_detected_ms));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&r.item_index));
  }
  if (!in.AtEnd()) {
    return absl::DataLossError(
        absl::StrCat("generator state: ", in.remaining(), " unexpected trailing bytes"));
  }
  return absl::OkStatus();
}

absl::Status WriteDetectionsCsv(const GeneratorOptions& options,
                                const std::string& path, TimestampUnit unit) {
  BROOK_RETURN_IF_ERROR(ValidateGeneratorOptions(options));
  if (options.count == 0) {
    return absl::InvalidArgumentError(
        "WriteDetectionsCsv needs a bounded stream: GeneratorOptions.count > "
        "0");
  }
  CsvFile file(path);
  BROOK_RETURN_IF_ERROR(file.Open());
  fmt::memory_buffer& buf = file.buffer();
  buf.append(std::string_view(
      "geographical_location_oid,video_camera_oid,detection_oid,item_name,"
      "timestamp_detected\n"));
  DetectionGenerator generator(options);
  Detection d;
  while (generator.Next(d)) {
    fmt::format_to(std::back_inserter(buf), "{},{},{},",
                   d.geographical_location_oid, d.video_camera_oid,
                   d.detection_oid);
    AppendQuotedField(buf, d.item_name);
    fmt::format_to(std::back_inserter(buf), ",{}\n",
                   ConvertTimestamp(d.timestamp_detected_ms, unit));
    BROOK_RETURN_IF_ERROR(file.MaybeFlush());
  }
  return file.Close();
}

absl::Status WriteLocationsCsv(const std::vector<Location>& locations,
                               const std::string& path) {
  CsvFile file(path);
  BROOK_RETURN_IF_ERROR(file.Open());
  fmt::memory_buffer& buf = file.buffer();
  buf.append(
      std::string_view("geographical_location_oid,geographical_location\n"));
  for (const Location& location : locations) {
    fmt::format_to(std::back_inserter(buf), "{},",
                   location.geographical_location_oid);
    AppendQuotedField(buf, location.geographical_location);
    buf.push_back('\n');
    BROOK_RETURN_IF_ERROR(file.MaybeFlush());
  }
  return file.Close();
}

namespace {

constexpr int kRecordsPerPoll = 1024;

class GeneratorReader final : public brook::SourceReader<SourceRecord> {
 public:
  GeneratorReader(GeneratorOptions options, double rate)
      : generator_(options), rate_(rate), start_(std::chrono::steady_clock::now()) {}

  absl::StatusOr<brook::InputStatus> PollNext(
      brook::ReaderOutput<SourceRecord>& output) override {
    int64_t budget = kRecordsPerPoll;
    if (rate_ > 0) {
      // Pace by wall clock: emit what is due now, never block for long.
      const double elapsed_s = std::chrono::duration<double>(
                                   std::chrono::steady_clock::now() - start_).count();
      const int64_t due = static_cast<int64_t>(elapsed_s * rate_) - generator_.emitted();
      budget = std::min<int64_t>(budget, due);
      if (budget <= 0) return brook::InputStatus::kNothingAvailable;
    }
    for (int64_t i = 0; i < budget; ++i) {
      if (!generator_.Next(detection_)) return brook::InputStatus::kEndOfInput;
      output.Collect(SourceRecord(std::in_place_type<Event>, Event{detection_, 0}),
                     detection_.timestamp_detected_ms);
    }
    return brook::InputStatus::kMoreAvailable;
  }

  absl::StatusOr<std::string> SnapshotState(int64_t /*checkpoint_id*/) override {
    return EncodeGeneratorState(generator_.Snapshot());
  }

  absl::Status RestoreState(std::vector<std::string> states) override {
    if (states.empty()) return absl::OkStatus();
    if (states.size() != 1) {
      return absl::FailedPreconditionError(
          "the generator source restores from exactly one reader's state");
    }
    GeneratorState state;
    BROOK_RETURN_IF_ERROR(DecodeGeneratorState(states[0], &state));
    BROOK_RETURN_IF_ERROR(generator_.CheckState(state));
    generator_.Restore(state);
    if (rate_ > 0) {
      // Pacing resumes at the restored position, not from zero.
      start_ = std::chrono::steady_clock::now() -
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(static_cast<double>(state.emitted) / rate_));
    }
    return absl::OkStatus();
  }

 private:
  DetectionGenerator generator_;
  double rate_;
  std::chrono::steady_clock::time_point start_;
  Detection detection_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<brook::SourceReader<SourceRecord>>>
DetectionGeneratorSource::CreateReader(const brook::SourceReaderContext& ctx) {
  if (ctx.parallelism != 1) {
    return absl::FailedPreconditionError("the generator source runs at parallelism 1");
  }
  return std::unique_ptr<brook::SourceReader<SourceRecord>>(new GeneratorReader(options_, rate_));
}

}  // namespace camera
