// word_count: the words of a text file counted exactly once (Flink's WordCount).
//
//   word_count INPUT OUTPUT CHECKPOINT_DIR
//
// FileSource reads the lines; one that is not valid UTF-8 becomes a dead
// letter (counted, printed). Counts go to OUTPUT (CSV word,count, sorted)
// through TransactionalFileSink, committed at each checkpoint: after a crash
// the same command resumes from the newest checkpoint in CHECKPOINT_DIR, and
// OUTPUT ends up as after a run without one.
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/connectors/callback_sink.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/file_source.h"
#include "brook/connectors/split_dead_letters.h"
#include "brook/connectors/text_line_format.h"
#include "brook/connectors/transactional_file_sink.h"

namespace bc = brook::connectors;
using Line = std::variant<std::string, bc::DeadLetter>;
using WordCount = std::pair<std::string, int64_t>;

// A word's count in its window: the global one, which fires at the end.
struct CountWords {
  using Accumulator = int64_t;
  using OutputType = WordCount;
  Accumulator CreateAccumulator() const { return 0; }
  void Add(const std::string&, Accumulator& n) { ++n; }
  void GetResult(const Accumulator& n, const brook::TimeWindow&, const std::string& word,
                 std::vector<WordCount>& out) {
    out.push_back({word, n});
  }
};

absl::Status Run(const std::string& input, const std::string& output, const std::string& dir) {
  BROOK_ASSIGN_OR_RETURN(auto source,
                         bc::FileSource<std::string>::Open(input, bc::TextLineFormat()));
  bc::FileSinkOptions<WordCount> sink_options;
  sink_options.header = "word,count";
  sink_options.encoder = [](const WordCount& w, std::string& out) {
    bc::AppendCsvRow(out, w.first, w.second);
  };
  sink_options.order = [](const WordCount& a, const WordCount& b) { return a < b; };
  BROOK_ASSIGN_OR_RETURN(auto sink,
                         bc::TransactionalFileSink<WordCount>::Open(
                             output, bc::FileSinkMode::kTransactional, std::move(sink_options)));
  brook::ExecutionConfig config{.parallelism = 2};
  BROOK_ASSIGN_OR_RETURN(config.checkpoint.storage, brook::NewLocalDirectoryCheckpointStorage(dir));
  config.checkpoint.interval = absl::Milliseconds(100);
  config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
  brook::StreamExecutionEnvironment env(config);
  const brook::OutputTag<bc::DeadLetter> bad_lines("bad-lines");
  // One reader per file: line numbers follow the input.
  auto lines = env.FromSource<Line>(source, brook::WatermarkStrategy<Line>::NoWatermarks(), "lines")
                   .SetParallelism(1)
                   .Process(bc::SplitDeadLetters<std::string>(bad_lines), "parse");
  lines.GetSideOutput(bad_lines).SinkTo(
      std::make_shared<bc::CallbackSink<bc::DeadLetter>>([](const bc::DeadLetter& d) {
        std::cerr << d.source << ":" << d.line_number << ": " << d.reason << "\n";
      }),
      "print-bad-lines", 1);
  auto words = lines.FlatMap<std::string>(
      [](const std::string& text, brook::Collector<std::string>& out) {
        for (absl::string_view w :
             absl::StrSplit(text, absl::ByAnyChar(" ,.:;!?"), absl::SkipEmpty())) {
          out.Collect(absl::AsciiStrToLower(w));
        }
      },
      "split-words");
  words.KeyBy([](const std::string& w) { return w; })
      .Window(brook::GlobalWindows::Create())
      .Aggregate(CountWords(), "count")
      .SinkTo(sink, "counts", 1);
  BROOK_RETURN_IF_ERROR(env.Execute("word-count"));
  std::cout << "distinct words: " << sink->rows_written() << " (in " << output << ")\n";
  return absl::OkStatus();
}

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: word_count INPUT OUTPUT CHECKPOINT_DIR\n";
    return 2;
  }
  if (absl::Status s = Run(argv[1], argv[2], argv[3]); !s.ok()) {
    std::cerr << "word_count: " << s << "\n";
    return 1;
  }
  return 0;
}
