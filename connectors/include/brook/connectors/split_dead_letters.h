// File: brook/connectors/split_dead_letters.h
//
// SplitDeadLetters<In, T>: the step after a source that emits rejections in
// line (FileSource's std::variant<T, DeadLetter>): each T goes on in the main
// output, each DeadLetter to the side output `dead_letters`, counted in the
// counter `counter` (default "num_dead_letters") of the operator's metric
// scope. `In` is std::variant<T, DeadLetter>, or T itself for a source
// without rejections (then records just pass, and the counter stays 0), so
// that one job can read either kind of source:
//
//   brook::OutputTag<DeadLetter> rejected("rejected");
//   auto records = env.FromSource(file_source, strategy, "file")
//                      .Process(SplitDeadLetters<FileSource<Row>::Output, Row>(rejected),
//                               "split");
//   records.GetSideOutput(rejected).SinkTo(dead_letter_sink, "dead-letters");
//
// Stateless; one copy per subtask (thread-compatible).
#ifndef BROOK_CONNECTORS_SPLIT_DEAD_LETTERS_H_
#define BROOK_CONNECTORS_SPLIT_DEAD_LETTERS_H_

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "brook/connectors/dead_letter.h"
#include "brook/functions.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"

namespace brook::connectors {

template <typename In, typename T>
requires std::is_same_v<In, T> || std::is_same_v<In, std::variant<T, DeadLetter>>
class SplitDeadLetters final : public ProcessFunction<In, T> {
 public:
  explicit SplitDeadLetters(OutputTag<DeadLetter> dead_letters,
                            std::string counter = "num_dead_letters")
      : dead_letters_(std::move(dead_letters)), counter_name_(std::move(counter)) {}

  absl::Status Open(RuntimeContext& ctx) override {
    counter_ = ctx.metrics().GetCounter(counter_name_);
    return absl::OkStatus();
  }

  absl::Status ProcessElement(const In& record, typename ProcessFunction<In, T>::Context& ctx,
                              Collector<T>& out) override {
    if constexpr (std::is_same_v<In, T>) {
      out.Collect(record);
    } else if (const T* value = std::get_if<T>(&record)) {
      out.Collect(*value);
    } else {
      counter_->Inc();
      ctx.Output(dead_letters_, std::get<DeadLetter>(record));
    }
    return absl::OkStatus();
  }

 private:
  OutputTag<DeadLetter> dead_letters_;
  std::string counter_name_;
  Counter* counter_ = nullptr;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_SPLIT_DEAD_LETTERS_H_
