#include "camera_top_k/secrets.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace camera {
namespace {

std::string TrimRight(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' ||
                        s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ReadSecret(absl::string_view flag,
                                                      const std::string& path,
                                                      const char* env_var) {
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": cannot read '", path, "': ", std::strerror(errno)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    std::string secret = TrimRight(std::move(text).str());
    if (secret.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is empty"));
    }
    return secret;
  }
  if (env_var != nullptr) {
    if (const char* value = std::getenv(env_var); value != nullptr) {
      std::string secret = TrimRight(value);
      if (!secret.empty()) return secret;
    }
  }
  return std::nullopt;
}

}  // namespace camera
