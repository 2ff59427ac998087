#include "camera_top_k/kafka_flags.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "brook/status.h"
#include "brook/connectors/kafka/kafka_producer.h"

namespace camera {

// --kafka_property may be given many times, but absl keeps only a flag's last
// occurrence: each parse appends to one process-wide list instead, and the
// flag's value is the list so far.
struct KafkaPropertyFlag {
  std::vector<std::string> items;  // KEY=VALUE, in command-line order
};

bool AbslParseFlag(absl::string_view text, KafkaPropertyFlag* flag, std::string* error) {
  static std::vector<std::string>* all = new std::vector<std::string>();
  if (text.empty()) {  // the default's string form, checked by absl at start
    flag->items = *all;
    return true;
  }
  const size_t eq = text.find('=');
  if (eq == 0 || eq == absl::string_view::npos) {
    *error = absl::StrCat("expected KEY=VALUE, got '", text, "'");
    return false;
  }
  all->emplace_back(text);
  flag->items = *all;
  return true;
}

std::string AbslUnparseFlag(const KafkaPropertyFlag& flag) {
  return absl::StrJoin(flag.items, " --kafka_property=");
}

}  // namespace camera

ABSL_FLAG(std::string, detections_topic, "",
          "Read Dataset A from this Kafka topic instead of --detections: one detection per "
          "message value (see --kafka_value_format); the key is not used. Needs "
          "--kafka_brokers.");
ABSL_FLAG(std::string, kafka_value_format, "json",
          "Message value of --detections_topic: json (an object with Dataset A's five field "
          "names) or csv (one line in Dataset A's column order, no header).");
ABSL_FLAG(std::string, kafka_group, "camera-top-k",
          "Consumer group id: offsets are committed under it on each completed checkpoint, "
          "for lag monitoring (positions live in the checkpoints).");
ABSL_FLAG(std::string, kafka_start, "earliest",
          "Where a partition is read from when no checkpoint has it: earliest, latest, "
          "committed (the group's offsets; earliest where none) or an epoch-ms timestamp.");
ABSL_FLAG(camera::KafkaPropertyFlag, kafka_property, {},
          "KEY=VALUE: a librdkafka property for every Kafka client of the job (source and "
          "sink), e.g. security.protocol=SASL_SSL, ssl.ca.location=FILE, "
          "sasl.mechanisms=SCRAM-SHA-512, sasl.username=U; repeat the flag for more. Put "
          "secrets (sasl.password, ssl.key.password) in --kafka_property_file, not here: ps "
          "shows flags.");
ABSL_FLAG(std::string, kafka_property_file, "",
          "A file of librdkafka properties, KEY=VALUE per line ('#' comments), applied before "
          "--kafka_property: the place for sasl.password and other secrets.");
ABSL_FLAG(bool, kafka_bounded, false,
          "Read --detections_topic up to the end offsets found at start, then end as a file "
          "input does.");

namespace camera {
namespace {

using Properties = std::vector<std::pair<std::string, std::string>>;

// KEY=VALUE lines; blank lines and lines starting with '#' or '!' skipped;
// whitespace around keys and values ignored.
absl::Status ReadPropertyFile(const std::string& path, Properties& out) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kafka_property_file: cannot read '", path, "': ", std::strerror(errno)));
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#' || text[0] == '!') continue;
    const size_t eq = text.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      // The line is not echoed: it may hold a secret.
      return absl::InvalidArgumentError(absl::StrCat("--kafka_property_file: ", path, ":", number,
                                                     ": expected KEY=VALUE"));
    }
    out.emplace_back(absl::StripAsciiWhitespace(text.substr(0, eq)),
                     absl::StripAsciiWhitespace(text.substr(eq + 1)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KafkaInputOptions> KafkaInputOptionsFromFlags() {
  KafkaInputOptions k;
  k.topic = absl::GetFlag(FLAGS_detections_topic);
  auto format = ParseKafkaValueFormat(absl::GetFlag(FLAGS_kafka_value_format));
  if (!format.ok()) return format.status();
  k.value_format = *format;
  k.group = absl::GetFlag(FLAGS_kafka_group);
  k.start = absl::GetFlag(FLAGS_kafka_start);
  k.bounded = absl::GetFlag(FLAGS_kafka_bounded);
  if (const std::string file = absl::GetFlag(FLAGS_kafka_property_file); !file.empty()) {
    BROOK_RETURN_IF_ERROR(ReadPropertyFile(file, k.properties));
  }
  for (const std::string& item : absl::GetFlag(FLAGS_kafka_property).items) {
    const size_t eq = item.find('=');
    k.properties.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  if (absl::Status s = brook::connectors::CheckKafkaProperties(k.properties); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--kafka_property/--kafka_property_file: ", s.message()));
  }
  return k;
}

}  // namespace camera
