// File: tests/connectors/collection_source_test.cc
//
// CollectionSource: subtask i of p reads positions i, i + p, ...; restored
// from the snapshots of any number of readers, at any parallelism, every
// value is read exactly once.
#include "brook/connectors/collection_source.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "connectors/test_util.h"
#include "brook/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace brook::connectors {
namespace {

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::ElementsAreArray;


// A reader driven as the runtime drives it; the values it emitted.
class DrivenReader {
 public:
  explicit DrivenReader(std::unique_ptr<SourceReader<int64_t>> reader)
      : driver_(std::move(reader)) {}
  absl::Status Open() { return driver_.Open(); }
  // Polls at most `polls` times (-1: to the end).
  absl::Status Poll(int polls) { return driver_.Poll(polls).status(); }
  const std::vector<int64_t>& emitted() {
    values_.clear();
    for (const auto& r : driver_.records()) values_.push_back(r.value);
    return values_;
  }
  SourceReader<int64_t>& reader() { return driver_.reader(); }

 private:
  brook_test::SourceReaderDriver<int64_t> driver_;
  std::vector<int64_t> values_;
};

constexpr int64_t kValues = 10000;

std::vector<int64_t> Iota() {
  std::vector<int64_t> v(kValues);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// The readers of `source` at `parallelism`, created as the runtime does
// (all before any Open), each given `restore[i]` when restoring.
std::vector<std::unique_ptr<DrivenReader>> Readers(
    CollectionSource<int64_t>& source, int parallelism,
    const std::vector<std::vector<std::string>>* restore = nullptr) {
  std::vector<std::unique_ptr<DrivenReader>> readers;
  for (int i = 0; i < parallelism; ++i) {
    auto reader = source.CreateReader(SourceReaderContext{i, parallelism, nullptr});
    EXPECT_THAT(reader.status(), IsOk());
    if (restore != nullptr) {
      EXPECT_THAT((*reader)->RestoreState((*restore)[i]), IsOk());
    }
    readers.push_back(std::make_unique<DrivenReader>(*std::move(reader)));
  }
  for (auto& r : readers) EXPECT_THAT(r->Open(), IsOk());
  return readers;
}

TEST(CollectionSourceTest, SubtaskReadsEveryPthPosition) {
  CollectionSource<int64_t> source(Iota());
  auto one = Readers(source, 1);
  ASSERT_THAT(one[0]->Poll(-1), IsOk());
  EXPECT_THAT(one[0]->emitted(), ElementsAreArray(Iota()));

  CollectionSource<int64_t> striped(Iota());
  auto three = Readers(striped, 3);
  ASSERT_THAT(three[1]->Poll(-1), IsOk());
  ASSERT_EQ(three[1]->emitted().size(), 3333u);
  for (size_t j = 0; j < three[1]->emitted().size(); ++j) {
    EXPECT_EQ(three[1]->emitted()[j], static_cast<int64_t>(1 + 3 * j));
  }
}

TEST(CollectionSourceTest, SharesTheCallersValuesWithoutCopying) {
  auto values = std::make_shared<const std::vector<int64_t>>(Iota());
  CollectionSource<int64_t> source(values);
  EXPECT_GT(values.use_count(), 1);  // the source holds the caller's vector
  auto readers = Readers(source, 2);
  ASSERT_THAT(readers[0]->Poll(-1), IsOk());
  ASSERT_THAT(readers[1]->Poll(-1), IsOk());
  std::vector<int64_t> all = readers[0]->emitted();
  all.insert(all.end(), readers[1]->emitted().begin(), readers[1]->emitted().end());
  std::sort(all.begin(), all.end());
  EXPECT_THAT(all, ElementsAreArray(*values));
}

TEST(CollectionSourceTest, RestoresAtAnyParallelismReadingEachValueOnce) {
  for (int before : {1, 2, 3}) {
    for (int after : {1, 2, 4, 5}) {
      SCOPED_TRACE(absl::StrCat(before, " -> ", after, " readers"));
      CollectionSource<int64_t> source(Iota());
      auto first = Readers(source, before);
      std::vector<int64_t> seen;
      std::vector<std::string> states;
      for (int i = 0; i < before; ++i) {
        ASSERT_THAT(first[i]->Poll(i), IsOk());  // reader i is i polls in
        auto state = first[i]->reader().SnapshotState(1);
        ASSERT_THAT(state.status(), IsOk());
        states.push_back(*state);
        seen.insert(seen.end(), first[i]->emitted().begin(), first[i]->emitted().end());
      }
      // What the runtime does: old reader j's state goes to new reader
      // j % after (none to some at a higher parallelism).
      std::vector<std::vector<std::string>> assigned(after);
      for (int j = 0; j < before; ++j) assigned[j % after].push_back(states[j]);
      CollectionSource<int64_t> again(Iota());
      auto restored = Readers(again, after, &assigned);
      for (auto& r : restored) {
        ASSERT_THAT(r->Poll(-1), IsOk());
        seen.insert(seen.end(), r->emitted().begin(), r->emitted().end());
      }
      std::sort(seen.begin(), seen.end());
      EXPECT_THAT(seen, ElementsAreArray(Iota()));
    }
  }
}

TEST(CollectionSourceTest, RejectsCorruptState) {
  CollectionSource<int64_t> source(Iota());
  auto readers = Readers(source, 1);
  ASSERT_THAT(readers[0]->Poll(2), IsOk());
  auto state = readers[0]->reader().SnapshotState(1);
  ASSERT_THAT(state.status(), IsOk());
  for (size_t n = 0; n < state->size(); ++n) {
    auto fresh = source.CreateReader(SourceReaderContext{});
    ASSERT_THAT(fresh.status(), IsOk());
    EXPECT_THAT((*fresh)->RestoreState({state->substr(0, n)}),
                StatusIs(absl::StatusCode::kDataLoss))
        << "prefix " << n;
  }
}

}  // namespace
}  // namespace brook::connectors
