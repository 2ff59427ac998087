// brook-kafka-mock: a Kafka cluster for tests, demos and trying brook without
// one. Starts librdkafka's mock cluster (brook::connectors::KafkaMockCluster)
// on loopback, prints its bootstrap servers as the first line on stdout, and
// serves until stdin closes (EOF) or SIGTERM / SIGINT arrives.
//
//   brook-kafka-mock [--brokers=N] [--topic=NAME:PARTITIONS]...
//
//   --brokers=N                 mock brokers (default 1)
//   --topic=NAME:PARTITIONS     creates a topic (repeatable); a topic that a
//                               producer auto-creates gets 4 partitions
//
// Exit status: 0 after a clean stop, 1 when the cluster cannot start or a
// topic cannot be created, 2 for a bad flag. The mock keeps at most 5 MiB or
// 100,000 batches per partition (older data is dropped silently) and keeps
// nothing on disk: its topics end with the process.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "brook/connectors/kafka/kafka_mock_cluster.h"

namespace {

constexpr char kUsage[] =
    "usage: brook-kafka-mock [--brokers=N] [--topic=NAME:PARTITIONS]...\n"
    "Starts a mock Kafka cluster on loopback, prints its bootstrap servers as the first\n"
    "line on stdout, and runs until stdin closes or SIGTERM/SIGINT.\n";

struct Flags {
  int brokers = 1;
  std::vector<std::pair<std::string, int>> topics;
};

bool ParsePositiveInt(std::string_view text, int& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && value >= 1;
}

// An error message for a bad command line, or "" when `flags` is filled.
std::string ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--brokers=")) {
      if (!ParsePositiveInt(arg.substr(10), flags.brokers)) {
        return "--brokers: expected a positive integer, got '" + std::string(arg.substr(10)) + "'";
      }
    } else if (arg.starts_with("--topic=")) {
      const std::string_view spec = arg.substr(8);
      const size_t colon = spec.rfind(':');
      int partitions = 0;
      if (colon == std::string_view::npos || colon == 0 ||
          !ParsePositiveInt(spec.substr(colon + 1), partitions)) {
        return "--topic: expected NAME:PARTITIONS (PARTITIONS >= 1), got '" + std::string(spec) +
               "'";
      }
      flags.topics.emplace_back(std::string(spec.substr(0, colon)), partitions);
    } else {
      return "unknown argument '" + std::string(arg) + "'";
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  Flags flags;
  if (std::string error = ParseFlags(argc, argv, flags); !error.empty()) {
    std::fprintf(stderr, "brook-kafka-mock: %s\n%s", error.c_str(), kUsage);
    return 2;
  }

  // Blocked before any thread starts, so every thread inherits the mask and
  // the signals wait for sigwait() below. SIGUSR1: stdin reached EOF.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a reader of stdout that went away is no reason to stop

  auto cluster = brook::connectors::KafkaMockCluster::Start(flags.brokers);
  if (!cluster.ok()) {
    std::fprintf(stderr, "brook-kafka-mock: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  for (const auto& [name, partitions] : flags.topics) {
    if (absl::Status s = (*cluster)->CreateTopic(name, partitions); !s.ok()) {
      std::fprintf(stderr, "brook-kafka-mock: --topic=%s:%d: %s\n", name.c_str(), partitions,
                   s.ToString().c_str());
      return 1;
    }
  }
  std::printf("%s\n", (*cluster)->bootstrap_servers().c_str());
  std::fflush(stdout);
  std::fprintf(stderr,
               "brook-kafka-mock: %d broker(s) at %s, %zu topic(s); stops when stdin closes or "
               "on SIGTERM/SIGINT\n",
               flags.brokers, (*cluster)->bootstrap_servers().c_str(), flags.topics.size());

  // Detached: it may stay blocked in read() after a signal stops the process.
  std::thread([] {
    char buffer[4096];
    while (true) {
      const ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
      if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    kill(getpid(), SIGUSR1);
  }).detach();

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "brook-kafka-mock: stopping (%s)\n",
               signal_number == SIGUSR1 ? "stdin closed" : strsignal(signal_number));
  cluster->reset();
  return 0;
}
