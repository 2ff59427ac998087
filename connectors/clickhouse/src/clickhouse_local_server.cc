// File: connectors/clickhouse/src/clickhouse_local_server.cc
#include "brook/connectors/clickhouse/clickhouse_local_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "brook/connectors/clickhouse/clickhouse_client.h"
#include "brook/status.h"

extern char** environ;

namespace brook::connectors {
namespace {

// A port the kernel chose free a moment ago (the server binds it next).
absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, "bind a loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string LogTail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string log = s.str();
  return log.size() > 2000 ? log.substr(log.size() - 2000) : log;
}

}  // namespace

std::string ClickHouseLocalServer::FindBinary() {
  for (const char* path : {"/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<ClickHouseLocalServer>> ClickHouseLocalServer::Start(
    Options options) {
  if (options.binary.empty()) options.binary = FindBinary();
  if (options.binary.empty() || access(options.binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        "clickhouse-server is not installed (Debian: apt-get install clickhouse-server)");
  }
  std::unique_ptr<ClickHouseLocalServer> server(new ClickHouseLocalServer(std::move(options)));
  const char* tmp = std::getenv("TMPDIR");
  std::string dir =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/brook-clickhouse.XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp");
  server->dir_ = dir;
  auto port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  server->port_ = *port;

  const Options& o = server->options_;
  std::string users =
      "<default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>"
      "<profile>default</profile><quota>default</quota></default>";
  if (!o.user.empty()) {
    absl::StrAppend(&users, "<", o.user, "><password>", o.password,
                    "</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>"
                    "<profile>default</profile><quota>default</quota></",
                    o.user, ">");
  }
  std::ofstream config(dir + "/config.xml");
  config << "<yandex>\n"
         << "  <logger><level>warning</level><console>true</console></logger>\n"
         << "  <listen_host>127.0.0.1</listen_host>\n"
         << "  <http_port>" << server->port_ << "</http_port>\n"
         << "  <path>" << dir << "/data/</path>\n"
         << "  <tmp_path>" << dir << "/tmp/</tmp_path>\n"
         << "  <user_files_path>" << dir << "/user_files/</user_files_path>\n"
         << "  <format_schema_path>" << dir << "/format_schemas/</format_schema_path>\n"
         << "  <mark_cache_size>67108864</mark_cache_size>\n"
         << "  <users>" << users << "</users>\n"
         << "  <profiles><default></default></profiles>\n"
         << "  <quotas><default></default></quotas>\n"
         << "</yandex>\n";
  config.close();
  if (!config) return absl::InternalError(absl::StrCat("cannot write ", dir, "/config.xml"));
  BROOK_RETURN_IF_ERROR(server->Launch());
  return server;
}

absl::Status ClickHouseLocalServer::Launch() {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = dir_ + "/server.log";
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  const std::string config_arg = absl::StrCat("--config-file=", dir_, "/config.xml");
  std::vector<char*> argv = {options_.binary.data(), const_cast<char*>(config_arg.c_str()),
                             nullptr};
  const int error =
      posix_spawn(&pid_, options_.binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    pid_ = -1;
    return absl::ErrnoToStatus(error, absl::StrCat("cannot start ", options_.binary));
  }
  ClickHouseClientOptions quick;
  quick.timeout = absl::Seconds(2);
  quick.max_retries = 0;
  const ClickHouseClient client({"127.0.0.1", port_, "", ""}, quick);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(
          absl::StrCat("clickhouse-server exited at start; its log:\n", LogTail(log)));
    }
    if (client.Query("SELECT 1").ok()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return absl::UnavailableError(
      absl::StrCat("clickhouse-server did not answer within 20 s; its log:\n", LogTail(log)));
}

ClickHouseLocalServer::~ClickHouseLocalServer() {
  Kill();
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

std::string ClickHouseLocalServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

std::string ClickHouseLocalServer::user_url() const {
  return absl::StrCat("http://", options_.user, ":", options_.password, "@127.0.0.1:", port_);
}

void ClickHouseLocalServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

absl::Status ClickHouseLocalServer::Restart() {
  Kill();
  return Launch();
}

}  // namespace brook::connectors
