// File: bench/micro_benchmark.cc
//
// Google Benchmark micro-benchmarks of brook's hot pieces, each alone, to
// explain bench/pipeline's figures (docs/performance.md). Deduplicate and
// LookupJoin as whole operators are in operators_benchmark.cc.
//
//   BM_Channel/batch:B            a producer thread pushes batches of B
//                                 64-byte records through an InputGate
//                                 (capacity 8 batches) to the benchmark
//                                 thread: batches/s and records/s.
//   BM_KeyGroup/int64, /string    key -> key group -> subtask (Flink's
//                                 KeyGroupRangeAssignment) per key.
//   BM_HashPartition/parallelism:P  the RecordWriter's KeyBy routing of
//                                 1024-record batches into P channels
//                                 (drained in the same thread).
//   BM_KeyedStateGetPut/keys:N    ValueState<int64_t> get + update through
//                                 the heap backend (128 key groups) for N
//                                 distinct keys visited in random order.
//   BM_Intern/items:N             Window Top-K's item dictionary: one string
//                                 lookup per record (items Zipf-distributed).
//   BM_TopKSelect/items:N         one window firing: rank N counted items,
//                                 emit the top 10 (count desc, item asc).
//   BM_Fingerprint                the camera job's dedup fingerprint.
//   BM_CsvParse                   the connectors' CSV reader with the camera
//                                 job's schema over a generated Dataset A
//                                 CSV (1M rows, written once to a temp
//                                 file): bytes/s and records/s. With
//                                 BROOK_BENCH_CSV=path (and
//                                 BROOK_BENCH_CSV_UNIT=s|ms|us, default ms)
//                                 it parses that file instead, e.g. the
//                                 utopia data set.
//
// Run (Release build):
//   cmake -S . -B build-bench -G Ninja -DBROOK_BUILD_BENCH=ON
//   ninja -C build-bench micro_benchmark && build-bench/bench/micro_benchmark
//
// Snapshot serialisation is not measured: brook has no checkpoint code yet.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/connectors/csv_format.h"
#include "brook/internal/channel.h"
#include "brook/internal/keyed_state_backend.h"
#include "brook/internal/record_writer.h"
#include "brook/key_group.h"
#include "brook/operators/deduplicate.h"
#include "brook/operators/top_k.h"
#include "camera_top_k/detection.h"
#include "camera_top_k/detection_schema.h"
#include "camera_top_k/generator.h"
#include "build_warning.h"

namespace {

[[maybe_unused]] const bool kBuildWarning =
    brook_bench::WarnIfNotReleaseBuild("micro_benchmark");

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "micro_benchmark: %s\n", s.ToString().c_str());
    std::abort();
  }
}

// A record of the camera job's size class (64 bytes, no heap).
struct Record {
  int64_t key = 0;
  int64_t fields[7] = {};
};

// ---------------------------------------------------------------------------
// Channels.

void BM_Channel(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  constexpr int64_t kRecords = 1 << 20;
  const int64_t batches = kRecords / static_cast<int64_t>(batch);
  using Element = brook::internal::ChannelElement<Record>;
  for (auto _ : state) {
    brook::internal::InputGate<Record> gate(/*num_channels=*/1, /*capacity_batches=*/8);
    std::thread producer([&] {
      for (int64_t b = 0; b < batches; ++b) {
        Element e;
        e.records.resize(batch);
        if (!gate.Push(0, std::move(e), nullptr)) return;
      }
    });
    std::deque<brook::internal::Mail> mail;
    Element e;
    int channel = 0;
    int64_t received = 0;
    while (received < batches) {
      if (gate.Poll(/*block=*/true, &mail, &e, &channel) ==
          brook::internal::InputGate<Record>::Next::kElement) {
        benchmark::DoNotOptimize(e.records.data());
        ++received;
      }
    }
    producer.join();
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["batches/s"] =
      benchmark::Counter(iters * static_cast<double>(batches), benchmark::Counter::kIsRate);
  state.counters["records/s"] =
      benchmark::Counter(iters * static_cast<double>(kRecords), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Channel)
    ->ArgName("batch")
    ->Arg(64)
    ->Arg(256)
    ->Arg(1024)
    ->Arg(4096)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// Key groups and KeyBy routing.

void BM_KeyGroup_int64(benchmark::State& state) {
  std::vector<int64_t> keys(4096);
  std::mt19937_64 rng(1);
  for (auto& k : keys) k = static_cast<int64_t>(rng() >> 1);
  size_t i = 0;
  for (auto _ : state) {
    const int kg = brook::AssignToKeyGroup(keys[i++ & 4095], brook::kDefaultMaxParallelism);
    benchmark::DoNotOptimize(
        brook::ComputeOperatorIndexForKeyGroup(brook::kDefaultMaxParallelism, 2, kg));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyGroup_int64);

void BM_KeyGroup_string(benchmark::State& state) {
  std::vector<std::string> keys(4096);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = camera::ItemName(static_cast<int>(i));
  size_t i = 0;
  for (auto _ : state) {
    const int kg = brook::AssignToKeyGroup(keys[i++ & 4095], brook::kDefaultMaxParallelism);
    benchmark::DoNotOptimize(
        brook::ComputeOperatorIndexForKeyGroup(brook::kDefaultMaxParallelism, 2, kg));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyGroup_string);

void BM_HashPartition(benchmark::State& state) {
  const int parallelism = static_cast<int>(state.range(0));
  constexpr size_t kBatch = 1024;
  std::vector<std::unique_ptr<brook::internal::InputGate<Record>>> gates;
  std::vector<brook::internal::InputGate<Record>*> targets;
  for (int p = 0; p < parallelism; ++p) {
    gates.push_back(std::make_unique<brook::internal::InputGate<Record>>(1, 1 << 20));
    targets.push_back(gates.back().get());
  }
  // As KeyedStream::Partitioned(): the key hash through the key selector.
  std::function<int64_t(const Record&)> selector = [](const Record& r) { return r.key; };
  std::function<int32_t(const Record&)> key_hash = [selector](const Record& r) {
    return brook::KeyHash<int64_t>()(selector(r));
  };
  brook::internal::RecordWriter<Record> writer(brook::internal::Partitioning::kHash, key_hash,
                                               targets, /*channel=*/0, /*subtask=*/0,
                                               brook::kDefaultMaxParallelism, kBatch, nullptr);
  std::mt19937_64 rng(1);
  std::vector<brook::StreamRecord<Record>> input(kBatch);
  std::vector<brook::StreamRecord<Record>> batch;
  std::deque<brook::internal::Mail> mail;
  brook::internal::ChannelElement<Record> e;
  int channel = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& r : input) r.value.key = static_cast<int64_t>(rng() >> 1);
    batch = input;
    state.ResumeTiming();
    Check(writer.ProcessBatch(batch));
    Check(writer.Flush());
    for (auto& g : gates) {
      while (g->Poll(false, &mail, &e, &channel) ==
             brook::internal::InputGate<Record>::Next::kElement) {
        benchmark::DoNotOptimize(e.records.data());
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
}
BENCHMARK(BM_HashPartition)->ArgName("parallelism")->Arg(1)->Arg(2)->Arg(8);

// ---------------------------------------------------------------------------
// Keyed state.

void BM_KeyedStateGetPut(benchmark::State& state) {
  const int64_t num_keys = state.range(0);
  brook::internal::HeapKeyedStateBackend<int64_t> backend(
      brook::ComputeKeyGroupRangeForOperatorIndex(brook::kDefaultMaxParallelism, 1, 0));
  auto impl = backend.GetValueState<int64_t>("count", brook::StateTtlConfig{});
  Check(impl.status());
  brook::ValueState<int64_t> count = brook::internal::StateAccess::Value(*impl);
  std::vector<int64_t> order(static_cast<size_t>(num_keys));
  for (int64_t i = 0; i < num_keys; ++i) order[static_cast<size_t>(i)] = i * 7919 + 13;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(1));
  auto& ctx = backend.context();
  size_t i = 0;
  for (auto _ : state) {
    const int64_t& key = order[i];
    if (++i == order.size()) i = 0;
    // What KeyedProcessOperator does per record: key group, then the state.
    ctx.key = &key;
    ctx.key_group_index = brook::AssignToKeyGroup(key, brook::kDefaultMaxParallelism);
    const int64_t* c = count.Get();
    count.Update(c == nullptr ? 1 : *c + 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["state_bytes_per_key"] =
      static_cast<double>(backend.ApproxBytes()) / static_cast<double>(backend.NumEntries());
}
BENCHMARK(BM_KeyedStateGetPut)->ArgName("keys")->Arg(1000)->Arg(100'000)->Arg(2'000'000);

// ---------------------------------------------------------------------------
// Window Top-K: interning and selection.

// Zipf(1) item indexes over `n` items, deterministic.
std::vector<int> ZipfItems(int n, size_t count) {
  std::vector<double> cdf(static_cast<size_t>(n));
  double sum = 0;
  for (int k = 0; k < n; ++k) cdf[static_cast<size_t>(k)] = sum += 1.0 / (k + 1);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<int> out(count);
  for (auto& o : out) {
    o = static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
  }
  return out;
}

void BM_Intern(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<std::string> names(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) names[static_cast<size_t>(k)] = camera::ItemName(k);
  const std::vector<int> items = ZipfItems(n, 1 << 16);
  brook::ops::top_k_internal::ItemDictionary dictionary;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(dictionary.Intern(names[static_cast<size_t>(items[i])]));
    i = (i + 1) & 0xffff;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Intern)->ArgName("items")->Arg(200)->Arg(100'000);

struct Item {
  std::string name;
};

void BM_TopKSelect(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto agg = brook::ops::TopK<int64_t, Item>(&Item::name, 10);
  auto acc = agg.CreateAccumulator();
  std::vector<Item> names(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) names[static_cast<size_t>(k)].name = camera::ItemName(k);
  for (int idx : ZipfItems(n, static_cast<size_t>(n) * 50)) {
    agg.Add(names[static_cast<size_t>(idx)], acc);
  }
  std::vector<brook::ops::RankedItem<int64_t>> out;
  const brook::TimeWindow window{0, 10'000};
  for (auto _ : state) {
    out.clear();
    agg.GetResult(acc, window, int64_t{1}, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());  // firings
  state.counters["distinct_items"] = static_cast<double>(acc.size());
}
BENCHMARK(BM_TopKSelect)->ArgName("items")->Arg(20)->Arg(200)->Arg(10'000);

// ---------------------------------------------------------------------------
// The camera job's per-record helpers and input parsing.

void BM_Fingerprint(benchmark::State& state) {
  camera::DetectionGenerator generator(camera::GeneratorOptions{.count = 4096});
  std::vector<camera::Detection> detections;
  camera::Detection d;
  while (generator.Next(d)) detections.push_back(d);
  size_t i = 0;
  for (auto _ : state) {
    const camera::Detection& x = detections[i++ & 4095];
    benchmark::DoNotOptimize(brook::ops::Fingerprinter()
                                 .Add(x.geographical_location_oid)
                                 .Add(x.video_camera_oid)
                                 .Add(x.item_name)
                                 .Add(x.timestamp_detected_ms)
                                 .value());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Fingerprint);

// A generated Dataset A CSV, written once per process, deleted at exit.
const std::string& CsvPath() {
  static const std::string* path = [] {
    auto* p = new std::string(
        absl::StrCat(std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp",
                     "/brook_micro_benchmark_", getpid(), ".csv"));
    camera::GeneratorOptions o;
    o.count = 1'000'000;
    o.num_locations = 1000;
    o.num_items = 200;
    o.duplicate_rate = 0.1;
    Check(camera::WriteDetectionsCsv(o, *p, camera::TimestampUnit::kMilliseconds));
    std::atexit([] { std::remove(CsvPath().c_str()); });
    return p;
  }();
  return *path;
}

void BM_CsvParse(benchmark::State& state) {
  const char* env_path = std::getenv("BROOK_BENCH_CSV");
  const std::string path = env_path != nullptr ? std::string(env_path) : CsvPath();
  camera::TimestampUnit unit = camera::TimestampUnit::kMilliseconds;
  if (const char* u = std::getenv("BROOK_BENCH_CSV_UNIT"); u != nullptr) {
    auto parsed = brook::connectors::ParseTimestampUnit(u);
    Check(parsed.status());
    unit = *parsed;
  }
  state.SetLabel(path);
  int64_t bytes = 0;
  int64_t records = 0;
  for (auto _ : state) {
    auto reader = brook::connectors::LineRecordReader<
        brook::connectors::CsvFormat<camera::DetectionSchemaType>>::
        Open(path, brook::connectors::CsvFormat(camera::DetectionSchema(unit)));
    Check(reader.status());
    brook::connectors::ReadResult<camera::Event> result;
    while (true) {
      auto more = (*reader)->Next(result);
      Check(more.status());
      if (!*more) break;
      ++records;
    }
    bytes += (*reader)->offset();
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(records);
}
BENCHMARK(BM_CsvParse)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
