#include "brook/connectors/postgres/postgres_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "brook/status.h"

namespace brook::connectors {
namespace {

// Password of user postgres over TCP (the template cluster's).
constexpr char kPassword[] = "brook-test";

// The newest /usr/lib/postgresql/<v>/bin holding pg_ctl (or $BROOK_POSTGRES_BIN).
std::string FindBin() {
  if (const char* env = std::getenv("BROOK_POSTGRES_BIN"); env != nullptr && *env != '\0') {
    return env;
  }
  std::string best;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string bin = (e.path() / "bin").string();
    if (std::filesystem::exists(bin + "/pg_ctl", ec) && bin > best) best = bin;
  }
  return best;
}

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  if (port < 0) return absl::InternalError("no free loopback port");
  return port;
}

std::string ReadTail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  const std::string text = s.str();
  return text.size() <= 2000 ? text : text.substr(text.size() - 2000);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresTestServer>> PostgresTestServer::Start() {
  std::unique_ptr<PostgresTestServer> server(new PostgresTestServer());
  server->bin_ = FindBin();
  if (server->bin_.empty()) {
    return absl::NotFoundError(
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/pg_ctl; install "
        "postgresql-15 or set BROOK_POSTGRES_BIN)");
  }
  const bool root = geteuid() == 0;
  passwd* pg = root ? getpwnam("postgres") : nullptr;
  if (root && pg == nullptr) {
    return absl::NotFoundError(
        "running as root, and there is no 'postgres' user to run the server");
  }
  std::string dir_template =
      (std::filesystem::temp_directory_path() / "brook-postgres.XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  server->dir_ = dir_template;
  server->password_ = kPassword;
  if (root && chown(server->dir_.c_str(), pg->pw_uid, pg->pw_gid) != 0) {
    return absl::InternalError("chown of the server directory failed");
  }
  BROOK_ASSIGN_OR_RETURN(server->port_, FreeLoopbackPort());
  // initdb takes seconds; a copy of a cluster initialised once (per user
  // and server version, in the temp directory) a fraction of that.
  const std::string tmpl = (std::filesystem::temp_directory_path() /
                            absl::StrCat("brook-postgres-template-", geteuid(), "-",
                                         std::hash<std::string>()(server->bin_) % 100000))
                               .string();
  std::error_code ec;
  if (!std::filesystem::exists(tmpl + "/data/PG_VERSION", ec)) {
    const std::string init = absl::StrCat(server->dir_, "/init");
    {
      std::ofstream pw(server->dir_ + "/pwfile");
      pw << kPassword << "\n";
    }
    if (root && chown((server->dir_ + "/pwfile").c_str(), pg->pw_uid, pg->pw_gid) != 0) {
      return absl::InternalError("chown of the password file failed");
    }
    BROOK_RETURN_IF_ERROR(server->Run(
        "initdb", absl::StrCat(server->bin_, "/initdb -D ", init,
                               "/data -U postgres --auth-local=trust --auth-host=scram-sha-256 "
                               "--pwfile=",
                               server->dir_, "/pwfile --no-sync -E UTF8 --locale=C")));
    std::filesystem::rename(init, tmpl, ec);  // another process may have won: fine
    if (ec) std::filesystem::remove_all(init, ec);
  }
  // cp -a keeps the owner (postgres) and the 0700 mode the server insists on.
  if (std::system(absl::StrCat("cp -a ", tmpl, "/data ", server->dir_, "/data").c_str()) != 0) {
    return absl::InternalError(absl::StrCat("copying the template cluster ", tmpl, " failed"));
  }
  BROOK_RETURN_IF_ERROR(server->Restart());
  return server;
}

PostgresTestServer::~PostgresTestServer() {
  Kill().IgnoreError();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

std::string PostgresTestServer::conninfo() const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres password=", password_,
                      " dbname=postgres");
}

absl::Status PostgresTestServer::Run(const std::string& what, const std::string& command) {
  const std::string log = dir_ + "/" + what + ".log";
  const std::string full =
      absl::StrCat(geteuid() == 0 ? "runuser -u postgres -- " : "", command, " >>", log, " 2>&1");
  const int status = std::system(full.c_str());
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("postgres test server: ", what, " failed (", full,
                                            "):\n", ReadTail(log), "\n",
                                            ReadTail(dir_ + "/server.log")));
  }
  return absl::OkStatus();
}

absl::Status PostgresTestServer::Kill() {
  if (!running_) return absl::OkStatus();
  running_ = false;
  return Run("pg_ctl", absl::StrCat(bin_, "/pg_ctl -D ", dir_, "/data -m immediate -w stop"));
}

absl::Status PostgresTestServer::Restart() {
  if (running_) return absl::OkStatus();
  BROOK_RETURN_IF_ERROR(
      Run("pg_ctl", absl::StrCat(bin_, "/pg_ctl -D ", dir_, "/data -l ", dir_,
                                 "/server.log -w -t 30 -o \"-p ", port_, " -k ", dir_,
                                 " -c listen_addresses=127.0.0.1"
                                 " -c max_prepared_transactions=20 -c fsync=off"
                                 " -c synchronous_commit=off -c full_page_writes=off\" start")));
  running_ = true;
  return absl::OkStatus();
}

}  // namespace brook::connectors
