#include "camera_top_k/store_secret_flags.h"

#include <cstdlib>
#include <optional>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "brook/connectors/clickhouse/clickhouse_client.h"
#include "brook/status.h"
#include "camera_top_k/secrets.h"

ABSL_FLAG(std::string, clickhouse_password_file, "",
          "The password of --clickhouse_url's user (default: $CLICKHOUSE_PASSWORD), instead "
          "of one in the URL, which ps shows.");
ABSL_FLAG(std::string, postgres_password_file, "",
          "The password for --postgres when its conninfo has none (libpq's PGPASSWORD, "
          "PGPASSFILE and ~/.pgpass work too), instead of one in the conninfo, which ps shows.");

namespace camera {
namespace {

// RFC 3986 userinfo: everything but unreserved characters %-escaped.
std::string PercentEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      constexpr char kHex[] = "0123456789ABCDEF";
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ClickHouseUrlFromFlags(const std::string& url) {
  BROOK_ASSIGN_OR_RETURN(
      std::optional<std::string> password,
      ReadSecret("--clickhouse_password_file", absl::GetFlag(FLAGS_clickhouse_password_file),
                 "CLICKHOUSE_PASSWORD"));
  if (!password.has_value()) return url;
  auto endpoint = brook::connectors::ParseClickHouseUrl(url);
  if (!endpoint.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--clickhouse_url: ", endpoint.status().message()));
  }
  if (!endpoint->password.empty()) {
    return absl::InvalidArgumentError(
        "--clickhouse_url has a password, and --clickhouse_password_file or CLICKHOUSE_PASSWORD "
        "gives another: keep one (the file)");
  }
  return absl::StrCat("http://", PercentEncode(endpoint->user.empty() ? "default" : endpoint->user),
                      ":", PercentEncode(*password), "@", endpoint->host, ":", endpoint->port);
}

absl::Status PostgresPasswordFromFlags() {
  const std::string file = absl::GetFlag(FLAGS_postgres_password_file);
  if (file.empty()) return absl::OkStatus();
  BROOK_ASSIGN_OR_RETURN(std::optional<std::string> password,
                         ReadSecret("--postgres_password_file", file, nullptr));
  // libpq reads PGPASSWORD at each connect; nothing else in the process does.
  ::setenv("PGPASSWORD", password->c_str(), /*overwrite=*/1);
  return absl::OkStatus();
}

}  // namespace camera
