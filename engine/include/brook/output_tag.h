// File: brook/output_tag.h
//
// OutputTag<T> names a side output of type T (as Flink's OutputTag): a
// function emits to it with `ctx.Output(tag, value)` and the job reads it with
// `stream.GetSideOutput(tag)`. Tags are identified by name; two tags with the
// same name must have the same type (checked when the job is built).
#ifndef BROOK_OUTPUT_TAG_H_
#define BROOK_OUTPUT_TAG_H_

#include <string>
#include <utility>

namespace brook {

template <typename T>
class OutputTag {
 public:
  using ValueType = T;
  explicit OutputTag(std::string id) : id_(std::move(id)) {}
  const std::string& id() const { return id_; }

 private:
  std::string id_;
};

}  // namespace brook

#endif  // BROOK_OUTPUT_TAG_H_
