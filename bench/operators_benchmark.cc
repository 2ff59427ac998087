// File: bench/operators_benchmark.cc
//
// Benchmarks of the built-in operators Deduplicate and LookupJoin, each driven
// alone in-process: records are handed to the runtime operator that wraps the
// function in batches of kBatch (as a subtask's input gate does), and its
// output is discarded. No threads, channels or sources: this is the cost of
// the operator itself (key selection, key group, state access, collecting).
//
//   BM_Deduplicate/fp:F/retention:R/item_bytes:B
//       kRecords records per iteration, 20% of them re-sends of an id seen
//       shortly before; F = 1 computes a Fingerprinter fingerprint per record
//       (conflict detection), R = 1 sets a 10 s event-time retention with a
//       watermark after every batch (state stays ~10k ids, in cache), R = 0
//       keeps every id (state grows to ~0.8M ids per iteration). B = 0: item
//       names of 5-6 bytes (in the small-string buffer, as most); B > 0: of
//       B bytes, so that a copy of a record allocates.
//   BM_LookupJoin/join_type:J
//       kRecords records joined with a 1,000-row table, 1 in 11 keys missing
//       (J = 0 inner, misses to a side output with their reason; J = 1 left
//       outer).
//   BM_DedupStateBytes/ids:N/retention:R/fp:F
//       One iteration: N distinct int64 ids into a subtask owning all 128 key
//       groups; reports bytes_per_id = StateBytes / NumStateEntries (the
//       state tables' slot arrays, as the state_bytes gauge).
//
// Run (Release build):
//   cmake -S . -B build-dedup -G Ninja -DBROOK_BUILD_BENCH=ON && ninja -C build-dedup operators_benchmark
//   build-dedup/bench/operators_benchmark
//
// It uses brook's internal operator classes only to feed whole batches (the
// public test harness sends one record per batch, which would measure the
// harness). The operators under test use only the public API.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/operators/deduplicate.h"
#include "brook/operators/lookup_join.h"
#include "brook/operators/top_k.h"
#include "brook/window.h"
#include "operator_driver.h"
#include "build_warning.h"

namespace {

[[maybe_unused]] const bool kBuildWarning =
    brook_bench::WarnIfNotReleaseBuild("operators_benchmark");

constexpr int64_t kRecords = 1 << 20;
constexpr size_t kBatch = 1024;

struct Detection {
  int64_t detection_oid = 0;
  int64_t location_oid = 0;
  std::string item;  // short: fits the small-string buffer, as most item names
  int64_t ts_ms = 0;
};

struct Location {
  int64_t oid = 0;
  std::string name;
};

struct Enriched {
  int64_t detection_oid = 0;
  const std::string* location = nullptr;
};

template <typename In, typename Out, typename Op>
using Driver = brook_bench::OperatorDriver<Out, Op>;

uint64_t Fingerprint(const Detection& d) {
  return brook::ops::Fingerprinter().Add(d.item).Add(d.location_oid).Add(d.ts_ms).value();
}

// kRecords detections in batches: ids ascend, and every 5th record re-sends
// the id of a record 1..64 positions earlier. One record per ms.
std::vector<std::vector<brook::StreamRecord<Detection>>> DedupInput(size_t item_bytes) {
  std::vector<std::vector<brook::StreamRecord<Detection>>> batches;
  int64_t next_id = 0;
  uint64_t rng = 42;
  for (int64_t i = 0; i < kRecords; ++i) {
    if (i % kBatch == 0) batches.emplace_back().reserve(kBatch);
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t id = next_id;
    if (i % 5 == 4 && next_id > 64) {
      id = next_id - 1 - static_cast<int64_t>((rng >> 33) % 64);
    } else {
      ++next_id;
    }
    std::string item = absl::StrCat("item", id % 97);
    if (item.size() < item_bytes) item.resize(item_bytes, '.');
    batches.back().push_back({i, Detection{id, id % 1000, std::move(item), i}});
  }
  return batches;
}

void BM_Deduplicate(benchmark::State& state) {
  const bool fingerprint = state.range(0) != 0;
  const bool retention = state.range(1) != 0;
  auto input = DedupInput(static_cast<size_t>(state.range(2)));
  brook::ops::DeduplicateOptions<Detection> options;
  if (fingerprint) options.fingerprint = Fingerprint;
  if (retention) options.retention = absl::Seconds(10);
  int64_t emitted = 0;
  int64_t entries = 0;
  for (auto _ : state) {
    state.PauseTiming();
    using Op = brook::internal::KeyedProcessOperator<int64_t, Detection, Detection>;
    auto driver = std::make_unique<Driver<Detection, Detection, Op>>(std::make_unique<Op>(
        std::make_unique<brook::ops::Deduplicate<Detection>>(options),
        [](const Detection& d) { return d.detection_oid; }));
    driver->Open();
    state.ResumeTiming();
    for (auto& batch : input) {
      driver->Process(batch);
      // A watermark per batch, 1 s behind (bounded out-of-orderness).
      if (retention) driver->Watermark(batch.back().timestamp_ms - 1000);
    }
    state.PauseTiming();
    emitted = driver->out_records();
    entries = driver->op().NumStateEntries();
    driver.reset();  // freeing the tables is not the operator's throughput
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.counters["emitted"] = static_cast<double>(emitted);
  state.counters["state_entries_at_end"] = static_cast<double>(entries);
}
BENCHMARK(BM_Deduplicate)
    ->ArgNames({"fp", "retention", "item_bytes"})
    ->ArgsProduct({{0, 1}, {0, 1}, {0}})
    ->Args({1, 1, 200})
    ->Unit(benchmark::kMillisecond);

void BM_LookupJoin(benchmark::State& state) {
  const auto join_type = state.range(0) == 0 ? brook::ops::JoinType::kInner
                                             : brook::ops::JoinType::kLeftOuter;
  std::vector<Location> rows;
  for (int64_t i = 0; i < 1000; ++i) rows.push_back({i, absl::StrCat("location-", i)});
  auto table = brook::ops::LookupTable<int64_t, Location>::Create(rows, &Location::oid);
  if (!table.ok()) {
    state.SkipWithError("table");
    return;
  }
  std::vector<std::vector<brook::StreamRecord<Detection>>> input;
  for (int64_t i = 0; i < kRecords; ++i) {
    if (i % kBatch == 0) input.emplace_back().reserve(kBatch);
    const int64_t key = (i * 7919) % 1100;  // keys >= 1000 miss
    input.back().push_back({i, Detection{i, key, "item", i}});
  }
  brook::OutputTag<brook::ops::JoinMiss<Detection>> misses("misses");
  auto fn = brook::ops::MakeLookupJoin<Detection, Enriched>(
      *table, &Detection::location_oid,
      [](const Detection& d, const Location* l) {
        return Enriched{d.detection_oid, l != nullptr ? &l->name : nullptr};
      },
      {.join_type = join_type, .misses_output = misses, .key_name = "location_oid"});
  using Op = brook::internal::ProcessOperator<Detection, Enriched>;
  Driver<Detection, Enriched, Op> driver(std::make_unique<Op>(
      std::make_unique<decltype(fn)>(fn)));
  driver.AddSideOutput(misses);
  driver.Open();
  for (auto _ : state) {
    for (auto& batch : input) driver.Process(batch);
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.counters["miss_fraction"] = static_cast<double>(driver.Metric("num_join_misses")) /
                                    static_cast<double>(state.iterations() * kRecords);
}
BENCHMARK(BM_LookupJoin)->ArgName("join_type")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Window Top-K alone: 1,000 locations (the partition key), 97 items, one
// record per ms, 10 s tumbling windows, top 10, a watermark per batch 1 s
// behind. Counts every record; fires ~1,000 windows x 10 ranks per 10 s.
void BM_WindowTopK(benchmark::State& state) {
  std::vector<std::vector<brook::StreamRecord<Detection>>> input;
  uint64_t rng = 7;
  for (int64_t i = 0; i < kRecords; ++i) {
    if (i % kBatch == 0) input.emplace_back().reserve(kBatch);
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    const int64_t location = static_cast<int64_t>((rng >> 33) % 1000);
    input.back().push_back(
        {i, Detection{i, location, absl::StrCat("item", (rng >> 17) % 97), i}});
  }
  brook::WindowOperatorOptions<Detection> options;
  options.assigner = brook::TumblingEventTimeWindows::Of(absl::Seconds(10));
  int64_t fired = 0;
  for (auto _ : state) {
    state.PauseTiming();
    using Out = brook::ops::RankedItem<int64_t>;
    using Op = brook::internal::KeyedProcessOperator<int64_t, Detection, Out>;
    auto fn = brook::ops::WindowTopK<int64_t, Detection>(&Detection::item, 10, options);
    auto driver = std::make_unique<Driver<Detection, Out, Op>>(std::make_unique<Op>(
        std::make_unique<decltype(fn)>(fn),
        [](const Detection& d) { return d.location_oid; }));
    driver->Open();
    state.ResumeTiming();
    for (auto& batch : input) {
      driver->Process(batch);
      driver->Watermark(batch.back().timestamp_ms - 1000);
    }
    driver->Watermark(brook::kMaxWatermarkMs);
    state.PauseTiming();
    fired = driver->out_records();
    driver.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.counters["ranked_rows_out"] = static_cast<double>(fired);
}
BENCHMARK(BM_WindowTopK)->Unit(benchmark::kMillisecond);

// Bytes of keyed state per retained id. No watermark is sent, so with a
// retention nothing expires: every id is retained, with its timestamp.
void BM_DedupStateBytes(benchmark::State& state) {
  const int64_t ids = state.range(0);
  const bool retention = state.range(1) != 0;
  const bool fingerprint = state.range(2) != 0;
  brook::ops::DeduplicateOptions<Detection> options;
  if (retention) options.retention = absl::Hours(24);
  if (fingerprint) options.fingerprint = Fingerprint;
  for (auto _ : state) {
    using Op = brook::internal::KeyedProcessOperator<int64_t, Detection, Detection>;
    Driver<Detection, Detection, Op> driver(std::make_unique<Op>(
        std::make_unique<brook::ops::Deduplicate<Detection>>(options),
        [](const Detection& d) { return d.detection_oid; }));
    driver.Open();
    std::vector<brook::StreamRecord<Detection>> batch;
    batch.reserve(kBatch);
    // Ids spread over the int64 range, as real oids are.
    for (int64_t i = 0; i < ids; ++i) {
      const int64_t id = static_cast<int64_t>(static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL);
      batch.push_back({i, Detection{id, 0, "x", i}});
      if (batch.size() == kBatch || i + 1 == ids) {
        driver.Process(batch);
        batch.clear();
      }
    }
    const int64_t entries = driver.op().NumStateEntries();
    const int64_t bytes = driver.op().StateBytes();
    if (entries != ids) {
      state.SkipWithError("not every id was retained");
      return;
    }
    state.counters["state_entries"] = static_cast<double>(entries);
    state.counters["state_MiB"] = static_cast<double>(bytes) / (1 << 20);
    state.counters["bytes_per_id"] = static_cast<double>(bytes) / static_cast<double>(entries);
  }
}
BENCHMARK(BM_DedupStateBytes)
    ->ArgNames({"ids", "retention", "fp"})
    ->ArgsProduct({{1'000'000, 10'000'000}, {0, 1}, {0, 1}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
