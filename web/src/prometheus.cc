#include "brook/web/prometheus.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "brook/time.h"
#include "fmt/format.h"

namespace brook::web {
namespace {

constexpr absl::string_view kWatermarkMetric = "current_watermark_ms";
constexpr absl::string_view kSideOutputPrefix = "num_records_out_";
// Per-partition metrics of a Kafka source: kafka_NAME.TOPIC/PARTITION.
constexpr absl::string_view kKafkaPrefix = "kafka_";

enum class Type { kCounter, kGauge, kHistogram };

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// One exposition line without the metric name: `{labels} value`.
struct Sample {
  std::string suffix;  // "", "_bucket", "_sum", "_count"
  std::string labels;  // rendered, without braces
  std::string value;
};

struct Family {
  Type type = Type::kGauge;
  std::string help;
  std::vector<Sample> samples;
  std::set<std::string> seen;  // suffix + labels, to drop duplicates
};

std::string Sanitize(absl::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out.push_back(ok ? c : '_');
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), '_');
  return out;
}

// Label values escape backslash, double quote and line feed (the format's rule).
void AppendLabel(std::string& out, absl::string_view name, absl::string_view value) {
  if (!out.empty()) out.push_back(',');
  out.append(name.data(), name.size());
  out.append("=\"");
  for (char c : value) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '"':
        out.append("\\\"");
        break;
      case '\n':
        out.append("\\n");
        break;
      default:
        out.push_back(c);
    }
  }
  out.push_back('"');
}

// HELP text escapes backslash and line feed.
std::string EscapeHelp(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::string FormatMs(int64_t ms) { return FormatDouble(static_cast<double>(ms) / 1000.0); }
std::string FormatUs(int64_t us) { return FormatDouble(static_cast<double>(us) / 1e6); }

std::string ScopeLabels(const MetricScope& scope) {
  std::string labels;
  AppendLabel(labels, "job", scope.job);
  AppendLabel(labels, "operator", scope.operator_name);
  AppendLabel(labels, "subtask", absl::StrCat(scope.subtask));
  return labels;
}

// The HELP text of registry metric `name`.
std::string HelpFor(const std::string& name) {
  static const std::map<std::string, std::string, std::less<>> kHelp = {
      {"num_records_in", "Records received by the operator subtask."},
      {"num_records_out", "Records emitted on the operator subtask's main output."},
      {"current_watermark_ms",
       "Current event-time watermark of the operator subtask, Unix seconds (-Inf before the "
       "first watermark, +Inf after the end of input)."},
      {"backpressured_time_ms",
       "Time the subtask spent blocked on a full output channel (backpressure), seconds."},
      {"state_entries", "Keyed state entries held by the operator subtask."},
      {"state_bytes", "Approximate bytes of keyed state held by the operator subtask."},
      {"timers", "Timers registered in the operator subtask."},
      {"num_side_output_records_discarded",
       "Side-output records dropped because no stream consumed that side output."},
      {"num_duplicates", "Duplicate records dropped by Deduplicate."},
      {"num_conflicting_duplicates",
       "Duplicates whose other fields differ from the first record (also counted as duplicates)."},
      {"num_join_misses", "Records whose key is missing from the lookup table."},
      {"table_rows", "Rows of the lookup table."},
      {"num_late_records", "Records behind the watermark beyond the allowed lateness."},
      {"num_late_records_dropped", "Late records dropped (no late-data side output)."},
      {"num_windows_fired", "Window firings (on-time and late)."},
      {"num_late_firings", "Window firings caused by late records within the allowed lateness."},
      {"num_early_firings", "Early window firings (before the window closes)."},
      {"top_k_interned_items", "Distinct items in the Top-K operator's dictionary."},
      {"num_malformed", "Malformed input records, sent to the dead letters."},
      {"kafka_records_in", "Messages consumed from the Kafka partition (labels topic, partition)."},
      {"kafka_bytes_in", "Key and value bytes consumed from the Kafka partition."},
      {"kafka_consumer_lag", "High watermark minus the reader's position in the partition."},
      {"kafka_commits", "Offset commits to Kafka on checkpoint completion that succeeded."},
      {"kafka_commit_failures", "Offset commits to Kafka that failed (monitoring only)."},
      {"latency_us",
       "Time from a latency marker's emission at a source to its arrival at this operator or "
       "sink subtask (Flink's latency tracking), seconds."},
      {"view_freshness_ms", "Age of the newest event reflected in the dashboard's view, seconds."},
  };
  auto it = kHelp.find(name);
  if (it != kHelp.end()) return it->second;
  return absl::StrCat("brook metric ", name, ".");
}

bool EndsWithMs(absl::string_view name) { return absl::EndsWith(name, "_ms"); }
bool EndsWithUs(absl::string_view name) { return absl::EndsWith(name, "_us"); }

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Writer {
 public:
  explicit Writer(const PrometheusFormatOptions& options) : options_(options) {}

  void Add(const MetricValue& m) {
    if (m.histogram.has_value()) {
      AddHistogram(m);
      return;
    }
    const std::string labels = ScopeLabels(m.scope);
    if (m.name == kWatermarkMetric) {
      const int64_t wm = m.value;
      std::string value = wm == kMinTimestampMs   ? "-Inf"
                          : wm == kMaxWatermarkMs ? "+Inf"
                                                  : FormatMs(wm);
      AddSample(options_.prefix + "current_watermark_timestamp_seconds", Type::kGauge,
                HelpFor(m.name), {"", labels, std::move(value)});
      if (options_.watermark_lag && wm != 0 && wm != kMinTimestampMs && wm != kMaxWatermarkMs) {
        AddSample(options_.prefix + "watermark_lag_seconds", Type::kGauge,
                  "Processing time minus the operator subtask's current watermark, seconds.",
                  {"", labels, FormatMs(NowMs() - wm)});
      }
      return;
    }
    if (m.is_counter && absl::StartsWith(m.name, kSideOutputPrefix) &&
        m.name.size() > kSideOutputPrefix.size()) {
      std::string with_output = labels;
      AppendLabel(with_output, "output",
                  absl::string_view(m.name).substr(kSideOutputPrefix.size()));
      AddSample(options_.prefix + "side_output_records_total", Type::kCounter,
                "Records emitted on a side output of the operator subtask (label output).",
                {"", std::move(with_output), absl::StrCat(m.value)});
      return;
    }
    std::string name = m.name;
    std::string with_partition = labels;
    if (absl::StartsWith(name, kKafkaPrefix)) {
      const size_t dot = name.find('.');
      const size_t slash = name.rfind('/');
      if (dot != std::string::npos && slash != std::string::npos && slash > dot) {
        AppendLabel(with_partition, "topic", name.substr(dot + 1, slash - dot - 1));
        AppendLabel(with_partition, "partition", name.substr(slash + 1));
        name.resize(dot);
      }
    }
    const std::string value = EndsWithMs(name)   ? FormatMs(m.value)
                              : EndsWithUs(name) ? FormatUs(m.value)
                                                 : absl::StrCat(m.value);
    AddSample(PrometheusMetricName(name, m.is_counter, options_.prefix),
              m.is_counter ? Type::kCounter : Type::kGauge, HelpFor(name),
              {"", std::move(with_partition), value});
  }

  std::string Finish() const {
    std::string out;
    for (const auto& [name, family] : families_) {
      absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family.help), "\n");
      absl::StrAppend(&out, "# TYPE ", name, " ", TypeName(family.type), "\n");
      for (const Sample& s : family.samples) {
        absl::StrAppend(&out, name, s.suffix, "{", s.labels, "} ", s.value, "\n");
      }
    }
    return out;
  }

 private:
  int64_t NowMs() {
    if (now_ms_ < 0) now_ms_ = options_.now_ms >= 0 ? options_.now_ms : WallClockMs();
    return now_ms_;
  }

  void AddHistogram(const MetricValue& m) {
    const HistogramSnapshot& h = *m.histogram;
    const bool ms = EndsWithMs(m.name);
    const bool us = EndsWithUs(m.name);  // e.g. latency_us: seconds too
    auto format = [&](int64_t v) {
      return ms ? FormatMs(v) : us ? FormatUs(v) : absl::StrCat(v);
    };
    const std::string name = PrometheusMetricName(m.name, false, options_.prefix);
    const std::string labels = ScopeLabels(m.scope);
    const std::string help = HelpFor(m.name);
    // Cumulative buckets; _count is the +Inf bucket, so the two always agree.
    int64_t cumulative = 0;
    for (size_t i = 0; i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      std::string le;
      if (i < h.upper_bounds.size()) {
        le = format(h.upper_bounds[i]);
      } else {
        le = "+Inf";
      }
      std::string bucket_labels = labels;
      AppendLabel(bucket_labels, "le", le);
      AddSample(name, Type::kHistogram, help,
                {"_bucket", std::move(bucket_labels), absl::StrCat(cumulative)});
    }
    AddSample(name, Type::kHistogram, help,
              {"_sum", labels, format(h.sum)});
    AddSample(name, Type::kHistogram, help, {"_count", labels, absl::StrCat(cumulative)});
  }

  void AddSample(const std::string& name, Type type, const std::string& help, Sample sample) {
    auto [it, inserted] = families_.try_emplace(name);
    Family& f = it->second;
    if (inserted) {
      f.type = type;
      f.help = help;
    } else if (f.type != type) {
      return;  // Two registry names map to one family of another type: keep the first.
    }
    if (!f.seen.insert(absl::StrCat(sample.suffix, "{", sample.labels, "}")).second) return;
    f.samples.push_back(std::move(sample));
  }

  const PrometheusFormatOptions& options_;
  int64_t now_ms_ = -1;
  std::map<std::string, Family> families_;  // sorted: stable output
};

}  // namespace

std::string PrometheusMetricName(const std::string& name, bool is_counter,
                                 const std::string& prefix) {
  if (name == kWatermarkMetric) return prefix + "current_watermark_timestamp_seconds";
  absl::string_view base = name;
  if (absl::StartsWith(base, "num_") && base.size() > 4) base.remove_prefix(4);
  std::string out = prefix + Sanitize(base);
  if (EndsWithMs(out) || EndsWithUs(out)) out.replace(out.size() - 3, 3, "_seconds");
  if (is_counter && !absl::EndsWith(out, "_total")) out += "_total";
  return out;
}

std::string FormatPrometheusText(const std::vector<MetricValue>& metrics,
                                 const PrometheusFormatOptions& options) {
  Writer writer(options);
  for (const MetricValue& m : metrics) writer.Add(m);
  return writer.Finish();
}

std::string FormatPrometheusText(const MetricRegistry& registry,
                                 const PrometheusFormatOptions& options) {
  return FormatPrometheusText(registry.Snapshot(), options);
}

}  // namespace brook::web
