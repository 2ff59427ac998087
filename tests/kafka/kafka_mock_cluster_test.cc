#include "brook/connectors/kafka/kafka_mock_cluster.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brook/testing/status_matchers.h"

namespace {

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::MatchesRegex;

TEST(KafkaMockClusterTest, ServesOnLoopbackAndCreatesTopics) {
  auto cluster = brook::connectors::KafkaMockCluster::Start(2);
  ASSERT_THAT(cluster.status(), IsOk());
  EXPECT_THAT((*cluster)->bootstrap_servers(),
              MatchesRegex("127\\.0\\.0\\.1:[0-9]+,127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_THAT((*cluster)->CreateTopic("detections", 8), IsOk());
  EXPECT_THAT((*cluster)->CreateTopic("none", 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(KafkaMockClusterTest, RejectsNoBrokers) {
  EXPECT_THAT(brook::connectors::KafkaMockCluster::Start(0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
