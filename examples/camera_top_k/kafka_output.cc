#include "camera_top_k/kafka_output.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "brook/connectors/kafka/kafka_producer.h"
#include "brook/connectors/kafka/kafka_sink.h"
#include "brook/status.h"

namespace camera {
namespace {

using brook::connectors::KafkaProducerRecord;

// `s` as a JSON string literal: quotes, backslashes and control characters
// escaped; other bytes as they are (the input was checked to be UTF-8).
void AppendQuoted(std::string_view s, std::string& out) {
  out.push_back('"');
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

void AppendResultJson(const ResultRow& r, const std::string& location, std::string& out) {
  if (r.global_window) {
    out.append(R"({"window_start":null,"window_end":null)");
  } else {
    absl::StrAppend(&out, R"({"window_start":)", r.window_start_ms, R"(,"window_end":)",
                    r.window_end_ms);
  }
  absl::StrAppend(&out, R"(,"geographical_location_oid":)", r.geographical_location_oid,
                  R"(,"geographical_location":)");
  AppendQuoted(location, out);
  absl::StrAppend(&out, R"(,"item_rank":)", r.item_rank, R"(,"item_name":)");
  AppendQuoted(r.item_name, out);
  absl::StrAppend(&out, R"(,"item_count":)", r.item_count, "}");
}

void AppendDetectionJson(const Detection& d, TimestampUnit unit, std::string& out) {
  absl::StrAppend(&out, R"({"geographical_location_oid":)", d.geographical_location_oid,
                  R"(,"video_camera_oid":)", d.video_camera_oid, R"(,"detection_oid":)",
                  d.detection_oid, R"(,"item_name":)");
  AppendQuoted(d.item_name, out);
  absl::StrAppend(&out, R"(,"timestamp_detected":)",
                  brook::connectors::FromEpochMillis(d.timestamp_detected_ms, unit), "}");
}

absl::StatusOr<std::shared_ptr<brook::Sink<ResultRow>>> MakeResultKafkaSink(
    const std::string& brokers, const std::string& topic, const std::string& delivery,
    absl::Duration checkpoint_interval,
    std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names,
    const std::vector<std::pair<std::string, std::string>>& properties) {
  if (brokers.empty()) {
    return absl::InvalidArgumentError("--output_topic needs --kafka_brokers=HOST:PORT[,...]");
  }
  auto guarantee = brook::connectors::ParseDeliveryGuarantee(delivery);
  if (!guarantee.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kafka_delivery: ", guarantee.status().message()));
  }
  brook::connectors::KafkaSinkOptions<ResultRow> options;
  options.bootstrap_servers = brokers;
  options.topic = topic;
  options.delivery_guarantee = *guarantee;
  options.transactional_id_prefix = absl::StrCat("camera_top_k-", topic);
  const absl::Duration timeout =
      std::clamp(2 * checkpoint_interval, absl::Minutes(1), absl::Minutes(15));
  options.properties = {
      {"transaction.timeout.ms", absl::StrCat(absl::ToInt64Milliseconds(timeout))}};
  options.properties.insert(options.properties.end(), properties.begin(), properties.end());
  options.serializer = [names = std::move(location_names)](const ResultRow& r,
                                                           KafkaProducerRecord& record) {
    static const std::string kUnknown;
    auto it = names->find(r.geographical_location_oid);
    absl::StrAppend(&record.key, r.geographical_location_oid);
    record.has_key = true;
    AppendResultJson(r, it == names->end() ? kUnknown : it->second, record.value);
  };
  auto sink = brook::connectors::KafkaSink<ResultRow>::Create(std::move(options));
  if (!sink.ok()) return sink.status();
  return std::shared_ptr<brook::Sink<ResultRow>>(*std::move(sink));
}

absl::StatusOr<int64_t> ProduceDetections(const GeneratorOptions& options, double rate,
                                          TimestampUnit unit, const std::string& brokers,
                                          const std::string& topic,
                                          const std::vector<std::pair<std::string, std::string>>&
                                              properties) {
  brook::connectors::KafkaProperties all = {
      {"bootstrap.servers", brokers}, {"enable.idempotence", "true"}, {"linger.ms", "5"}};
  all.insert(all.end(), properties.begin(), properties.end());
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<brook::connectors::KafkaProducer> producer,
                         brook::connectors::NewRdKafkaProducer(all));
  DetectionGenerator generator(options);
  Detection d;
  KafkaProducerRecord record;
  const absl::Time start = absl::Now();
  int64_t produced = 0;
  auto check = [&producer]() -> absl::Status {
    absl::Status first;
    if (producer->TakeDeliveryFailures(&first) > 0) return first;
    return absl::OkStatus();
  };
  while (generator.Next(d)) {
    record.Clear();
    record.SetKey(absl::StrCat(d.detection_oid));
    AppendDetectionJson(d, unit, record.value);
    BROOK_RETURN_IF_ERROR(producer->Produce(topic, record));
    ++produced;
    if (produced % 1024 == 0 || rate > 0) {
      producer->Poll();
      BROOK_RETURN_IF_ERROR(check());
    }
    if (rate > 0) {  // pace: event `produced` is due at start + produced / rate
      const absl::Time due = start + absl::Seconds(static_cast<double>(produced) / rate);
      const absl::Duration wait = due - absl::Now();
      if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
    }
  }
  BROOK_RETURN_IF_ERROR(producer->Flush(absl::Minutes(5)));
  BROOK_RETURN_IF_ERROR(check());
  return produced;
}

}  // namespace camera
