// File: brook/connectors/split_dead_letters.h
//
// SplitDeadLetters<T>: the first operator after a source that emits
// std::variant<T, DeadLetter> (FileSource, and any source that rejects
// records): records go on as T; dead letters leave through the side output
// `tag` (read it with GetSideOutput(tag)) and are counted, so that none is
// lost silently.
// Example:
//   const brook::OutputTag<DeadLetter> bad("bad-lines");
//   auto lines = env.FromSource<std::variant<Line, DeadLetter>>(source, strategy, "lines")
//                    .Process(brook::connectors::SplitDeadLetters<Line>(bad), "parse");
//   lines.GetSideOutput(bad).SinkTo(dead_letter_sink, "dead-letters");
//
// SplitDeadLetters<T, T> takes a stream of T itself (a source without
// rejections): records just pass and the counter stays 0, so one job can
// read either kind of source.
//
// Metric: `counter_name` (default "num_dead_letters") of the operator, per
// subtask. Stateless; copies each record once (as any operator whose input is
// const).
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

template <typename T, typename In = std::variant<T, DeadLetter>>
  requires std::is_same_v<In, T> || std::is_same_v<In, std::variant<T, DeadLetter>>
class SplitDeadLetters final : public ProcessFunction<In, T> {
 public:
  explicit SplitDeadLetters(OutputTag<DeadLetter> tag,
                            std::string counter_name = "num_dead_letters")
      : tag_(std::move(tag)), counter_name_(std::move(counter_name)) {}

  absl::Status Open(RuntimeContext& ctx) override {
    dead_letters_ = ctx.metrics().GetCounter(counter_name_);
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const In& record, typename ProcessFunction<In, T>::Context& ctx,
                              Collector<T>& out) override {
    if constexpr (std::is_same_v<In, T>) {
      out.Collect(record);
    } else if (const T* value = std::get_if<T>(&record)) {
      out.Collect(*value);
    } else {
      dead_letters_->Inc();
      ctx.Output(tag_, std::get<DeadLetter>(record));
    }
    return absl::OkStatus();
  }

 private:
  OutputTag<DeadLetter> tag_;
  std::string counter_name_;
  Counter* dead_letters_ = nullptr;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_SPLIT_DEAD_LETTERS_H_
