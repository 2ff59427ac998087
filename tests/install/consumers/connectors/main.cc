// A program built against an installed brook::connectors: a job reads a CSV
// file through FileSource and CsvFormat, sends the malformed line to the
// dead letters, and writes the rest with TransactionalFileSink. Exits 0 when
// both outputs are as expected.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>

#include "brook/brook.h"
#include "brook/connectors/callback_sink.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/csv_format.h"
#include "brook/connectors/file_source.h"
#include "brook/connectors/row_schema.h"
#include "brook/connectors/split_dead_letters.h"
#include "brook/connectors/transactional_file_sink.h"

namespace bc = brook::connectors;

struct Trip {
  int64_t id = 0;
  std::string city;
};

int main() {
  const std::string input = "consumer_trips.csv", output = "consumer_out.csv";
  std::ofstream(input) << "city,id\nOslo,1\nLima,x\nKyiv,3\n";
  auto schema = bc::MakeRowSchema<Trip>(bc::Int64Field("id", &Trip::id),
                                        bc::StringField("city", &Trip::city));
  auto source = bc::FileSource<Trip>::Open(input, bc::CsvFormat(schema));
  bc::FileSinkOptions<Trip> options;
  options.encoder = [](const Trip& t, std::string& out) { bc::AppendCsvRow(out, t.id, t.city); };
  auto sink = bc::TransactionalFileSink<Trip>::Open(output, bc::FileSinkMode::kPlain, options);
  if (!source.ok() || !sink.ok()) {
    std::fprintf(stderr, "open failed\n");
    return 1;
  }
  std::string dead;
  brook::StreamExecutionEnvironment env;
  const brook::OutputTag<bc::DeadLetter> bad("bad");
  using Line = std::variant<Trip, bc::DeadLetter>;
  auto trips = env.FromSource<Line>(*source, brook::WatermarkStrategy<Line>::NoWatermarks(), "in")
                   .Process(bc::SplitDeadLetters<Trip>(bad), "split");
  trips.SinkTo(*sink, "out");
  trips.GetSideOutput(bad).SinkTo(
      std::make_shared<bc::CallbackSink<bc::DeadLetter>>(
          [&dead](const bc::DeadLetter& d) { bc::AppendDeadLetterCsv(d, dead); }),
      "dead");
  if (absl::Status s = env.Execute("consumer"); !s.ok()) {
    std::fprintf(stderr, "job failed: %s\n", s.ToString().c_str());
    return 1;
  }
  std::stringstream written;
  written << std::ifstream(output).rdbuf();
  const std::string want_dead =
      "consumer_trips.csv,3,\"id: not an integer: \"\"x\"\"\",\"Lima,x\"\n";
  if (written.str() != "1,Oslo\n3,Kyiv\n" || dead != want_dead) {
    std::fprintf(stderr, "unexpected output:\n%s---\n%s", written.str().c_str(), dead.c_str());
    return 1;
  }
  std::printf("install consumer OK: connectors job, 2 rows and 1 dead letter\n");
  return 0;
}
