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
// subtask. Stateless; the runtime's records are moved on, not copied.
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
    return Split(record, ctx, out);
  }
  absl::Status ProcessElement(In&& record, typename ProcessFunction<In, T>::Context& ctx,
                              Collector<T>& out) override {
    return Split(std::move(record), ctx, out);
  }

 private:
  // R: const In& or In (moved from).
  template <typename R>
  absl::Status Split(R&& record, typename ProcessFunction<In, T>::Context& ctx,
                     Collector<T>& out) {
    // The alternative, moved from when the record is.
    auto pass = [](auto& alternative) -> decltype(auto) {
      if constexpr (std::is_lvalue_reference_v<R>) {
        return static_cast<const std::remove_cvref_t<decltype(alternative)>&>(alternative);
      } else {
        return std::move(alternative);
      }
    };
    if constexpr (std::is_same_v<In, T>) {
      out.Collect(std::forward<R>(record));
    } else if (auto* value = std::get_if<T>(&record)) {
      out.Collect(pass(*value));
    } else {
      dead_letters_->Inc();
      ctx.Output(tag_, pass(std::get<DeadLetter>(record)));
    }
    return absl::OkStatus();
  }

  OutputTag<DeadLetter> tag_;
  std::string counter_name_;
  Counter* dead_letters_ = nullptr;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_SPLIT_DEAD_LETTERS_H_
