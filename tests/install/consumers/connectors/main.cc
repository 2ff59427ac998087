// A program built against an installed brook::connectors: writes a
// DeadLetter through its TypeSerializer (the form a sink checkpoints) and
// reads it back. Exits 0 when the copy equals the original.
#include <cstdio>
#include <string>

#include "brook/connectors/dead_letter.h"
#include "brook/serialization.h"

int main() {
  const brook::connectors::DeadLetter letter{
      .source = "detections.csv", .line_number = 7, .reason = "item_name: empty",
      .raw_line = "1,2,,3"};
  using Serializer = brook::TypeSerializer<brook::connectors::DeadLetter>;
  std::string bytes;
  brook::DataOutputView out(&bytes);
  Serializer::Serialize(letter, out);

  brook::DataInputView in(bytes);
  brook::connectors::DeadLetter copy;
  if (absl::Status s = Serializer::Deserialize(in, &copy); !s.ok()) {
    std::fprintf(stderr, "Deserialize failed: %s\n", s.ToString().c_str());
    return 1;
  }
  if (!(copy == letter)) {
    std::fprintf(stderr, "copy differs: %s:%lld %s\n", copy.source.c_str(),
                 static_cast<long long>(copy.line_number), copy.reason.c_str());
    return 1;
  }
  std::printf("install consumer OK: dead letter round trip, %zu bytes\n", bytes.size());
  return 0;
}
