// Records are moved, not copied, from operator to operator: the runtime calls
// the rvalue ProcessElement, and the built-ins pass the record on with
// std::move (SplitDeadLetters, Deduplicate, LookupJoin, the window's late
// data). A record type that counts its copies pins it.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/connectors/dead_letter.h"
#include "brook/connectors/split_dead_letters.h"
#include "brook/operators/deduplicate.h"
#include "brook/operators/lookup_join.h"
#include "brook/testing/status_matchers.h"

namespace {

using ::brook::testing::IsOk;
using ::brook::testing::IsOkAndHolds;

std::atomic<int64_t> copies{0};

// A detection whose copies are counted; moving it is free.
struct Tracked {
  int64_t id = 0;
  int64_t location = 0;
  int64_t ts = 0;
  std::string item;  // longer than the small-string buffer: a copy allocates

  Tracked() = default;
  Tracked(int64_t i, int64_t l, int64_t t, std::string s)
      : id(i), location(l), ts(t), item(std::move(s)) {}
  Tracked(const Tracked& o) : id(o.id), location(o.location), ts(o.ts), item(o.item) { ++copies; }
  Tracked& operator=(const Tracked& o) {
    id = o.id;
    location = o.location;
    ts = o.ts;
    item = o.item;
    ++copies;
    return *this;
  }
  Tracked(Tracked&&) noexcept = default;
  Tracked& operator=(Tracked&&) noexcept = default;
};

struct Located {
  Tracked detection;
  const std::string* location_name = nullptr;
};

using Input = std::variant<Tracked, brook::connectors::DeadLetter>;
using Table = brook::ops::LookupTable<int64_t, std::pair<int64_t, std::string>>;

// parse (SplitDeadLetters) -> dedup -> join -> id: what the camera job runs.
// Every input record is copied once, by the source (its collection is kept
// for a restore); none of the 3,000 is copied again on its way through.
TEST(RecordMovesTest, SplitDedupAndJoinMoveRecordsOn) {
  std::vector<Input> input;
  for (int64_t i = 0; i < 3000; ++i) {
    const int64_t id = i % 2000;  // 1,000 re-sends
    input.emplace_back(Tracked(id, id % 4, i, absl::StrCat("an item name of some length #", id)));
    if (i % 500 == 0) input.emplace_back(brook::connectors::DeadLetter{});
  }
  auto table = Table::Create({{0, "north"}, {1, "south"}, {2, "east"}},  // 3: a join miss
                             [](const std::pair<int64_t, std::string>& r) { return r.first; });
  ASSERT_THAT(table, IsOk());
  std::shared_ptr<const Table> locations = std::move(*table);

  brook::StreamExecutionEnvironment env;
  const brook::OutputTag<brook::connectors::DeadLetter> malformed("malformed");
  const brook::OutputTag<Tracked> duplicates("duplicates");
  const brook::OutputTag<brook::ops::JoinMiss<Tracked>> misses("misses");
  auto ids = std::make_shared<brook::CollectSink<int64_t>>();
  auto duplicate_ids = std::make_shared<brook::CollectSink<int64_t>>();
  auto miss_ids = std::make_shared<brook::CollectSink<int64_t>>();

  auto parsed = env.FromCollection(std::move(input))
                    .Process(brook::connectors::SplitDeadLetters<Tracked>(malformed), "parse");
  brook::ops::DeduplicateOptions<Tracked> dedup;
  dedup.duplicates_output = duplicates;
  dedup.fingerprint = [](const Tracked& t) {
    return brook::ops::Fingerprinter().Add(t.item).value();
  };
  auto unique = parsed.KeyBy([](const Tracked& t) { return t.id; })
                    .Process(brook::ops::Deduplicate<Tracked>(dedup), "dedup");
  auto joined = unique.Process(
      brook::ops::MakeLookupJoin<Tracked, Located>(
          locations, &Tracked::location,
          [](Tracked&& t, const std::pair<int64_t, std::string>* row) {
            return Located{std::move(t), &row->second};
          },
          {.misses_output = misses}),
      "join");
  joined.Map([](Located&& l) { return l.detection.id; }, "id").SinkTo(ids, "ids");
  unique.GetSideOutput(duplicates)
      .Map([](Tracked&& t) { return t.id; }, "duplicate-id")
      .SinkTo(duplicate_ids, "duplicate-ids");
  joined.GetSideOutput(misses)
      .Map([](brook::ops::JoinMiss<Tracked>&& m) { return m.record.id; }, "miss-id")
      .SinkTo(miss_ids, "miss-ids");

  copies = 0;
  ASSERT_THAT(env.Execute(), IsOk());
  EXPECT_EQ(ids->values().size(), 1500u);  // 2,000 ids, a quarter at location 3
  EXPECT_EQ(duplicate_ids->values().size(), 1000u);
  EXPECT_EQ(miss_ids->values().size(), 500u);
  EXPECT_THAT(env.metrics().Sum("num_dead_letters", "parse"), IsOkAndHolds(6));
  // The source's copy of each of the 3,000 records, and no other.
  EXPECT_EQ(copies.load(), 3000);
}

}  // namespace
