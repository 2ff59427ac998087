// File: camera_top_k/secrets.h
//
// Secrets for the camera job (the HTTP bearer token, Kafka SASL passwords,
// the stores' passwords) come from a file or the environment, never only
// from a flag: a flag's value is visible to every local user in `ps` and
// /proc/PID/cmdline. See docs/operations.md, "Securing the endpoint".
#ifndef CAMERA_TOP_K_SECRETS_H_
#define CAMERA_TOP_K_SECRETS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace camera {

// ReadSecret(): the secret from the file `path` when it is not empty (its
// text without trailing CR, LF, spaces or tabs), else from the environment
// variable `env_var` when that is set and not empty (trimmed the same way),
// else nullopt. kInvalidArgument, the message starting with `flag` ("--x: ")
// and naming the file, when the file cannot be read or holds nothing.
absl::StatusOr<std::optional<std::string>> ReadSecret(absl::string_view flag,
                                                      const std::string& path,
                                                      const char* env_var);

}  // namespace camera

#endif  // CAMERA_TOP_K_SECRETS_H_
