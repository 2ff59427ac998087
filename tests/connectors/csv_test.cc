// File: tests/connectors/csv_test.cc
//
// CSV output (brook/connectors/csv.h): escaping, rows, the dead-letter CSV.
#include "brook/connectors/csv.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace brook::connectors {
namespace {

TEST(CsvEscape, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvEscape("plain"), "plain");
  EXPECT_EQ(CsvEscape(""), "");
  EXPECT_EQ(CsvEscape(" spaced "), " spaced ");
  EXPECT_EQ(CsvEscape("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvEscape("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvEscape("\""), "\"\"\"\"");
  EXPECT_EQ(CsvEscape("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(CsvEscape("cr\r"), "\"cr\r\"");
  EXPECT_EQ(CsvEscape("caf\xC3\xA9"), "caf\xC3\xA9");
}

TEST(CsvWriter, WritesRowsToStringAndFile) {
  std::string out;
  CsvWriter writer(&out);
  ASSERT_THAT(writer.WriteRow({"a", "b,c", ""}), IsOk());
  ASSERT_THAT(writer.WriteRow(std::vector<std::string>{"x\"y"}), IsOk());
  ASSERT_THAT(writer.WriteValues(int64_t{-5}, 3, "z,z", std::string("w")), IsOk());
  EXPECT_EQ(out, "a,\"b,c\",\n\"x\"\"y\"\n-5,3,\"z,z\",w\n");
  EXPECT_EQ(writer.rows_written(), 3);

  const std::string path = ::testing::TempDir() + "/csv_test_out.csv";
  std::FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  CsvWriter file_writer(file);
  ASSERT_THAT(file_writer.WriteRow({"h1", "h2"}), IsOk());
  ASSERT_THAT(file_writer.WriteValues(1, "two"), IsOk());
  ASSERT_THAT(file_writer.Flush(), IsOk());
  std::fclose(file);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "h1,h2\n1,two\n");
}

TEST(AppendCsvRow, AppendsEscapedValuesAndNumbers) {
  std::string out = "kept\n";
  AppendCsvRow(out, std::string(""), int32_t{7}, int64_t{-1700000000000}, "a \"b\"", 2.5);
  EXPECT_EQ(out, "kept\n,7,-1700000000000,\"a \"\"b\"\"\",2.5\n");
}

TEST(DeadLetterCsv, EncodesTheFourColumns) {
  std::string out;
  AppendDeadLetterCsv(DeadLetter{"in,put.csv", 12, "item_name: empty", "1,2,3,,4"}, out);
  EXPECT_EQ(out, "\"in,put.csv\",12,item_name: empty,\"1,2,3,,4\"\n");
  EXPECT_EQ(kDeadLetterCsvHeader, "source,line_number,reason,raw_line");
}

TEST(DeadLetterCsv, InputOrderIsSourceThenLineThenReason) {
  const DeadLetter a{"a.csv", 9, "z", ""};
  const DeadLetter b{"a.csv", 10, "a", ""};
  const DeadLetter c{"b.csv", 1, "a", ""};
  const DeadLetter d{"b.csv", 1, "b", ""};
  EXPECT_TRUE(DeadLetterInputOrder(a, b));  // 9 before 10, not "10" before "9"
  EXPECT_TRUE(DeadLetterInputOrder(b, c));
  EXPECT_TRUE(DeadLetterInputOrder(c, d));
  EXPECT_FALSE(DeadLetterInputOrder(d, c));
  EXPECT_FALSE(DeadLetterInputOrder(a, a));
  const FileSinkOptions<DeadLetter> options = DeadLetterCsvSinkOptions();
  EXPECT_EQ(options.header, kDeadLetterCsvHeader);
  ASSERT_TRUE(options.order);
  EXPECT_TRUE(options.order(a, b));
}

}  // namespace
}  // namespace brook::connectors
