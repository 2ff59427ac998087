#include "camera_top_k/kafka_property_flags.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "brook/connectors/kafka/kafka_producer.h"
#include "brook/status.h"

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

ABSL_FLAG(camera::KafkaPropertyFlag, kafka_property, {},
          "KEY=VALUE: a librdkafka property for every Kafka client (the job's source and "
          "sink, camera_generate's producer), e.g. security.protocol=SASL_SSL, "
          "ssl.ca.location=FILE, sasl.mechanisms=SCRAM-SHA-512, sasl.username=U; repeat the "
          "flag for more. Put "
          "secrets (sasl.password, ssl.key.password) in --kafka_property_file, not here: ps "
          "shows flags.");
ABSL_FLAG(std::string, kafka_property_file, "",
          "A file of librdkafka properties, KEY=VALUE per line ('#' comments), applied before "
          "--kafka_property: the place for sasl.password and other secrets.");

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

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> KafkaPropertiesFromFlags() {
  Properties properties;
  if (const std::string file = absl::GetFlag(FLAGS_kafka_property_file); !file.empty()) {
    BROOK_RETURN_IF_ERROR(ReadPropertyFile(file, properties));
  }
  for (const std::string& item : absl::GetFlag(FLAGS_kafka_property).items) {
    const size_t eq = item.find('=');
    properties.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  if (absl::Status s = brook::connectors::CheckKafkaProperties(properties); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kafka_property/--kafka_property_file: ", s.message()));
  }
  return properties;
}

}  // namespace camera
