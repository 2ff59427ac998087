// File: brook/status.h
//
// Error-propagation macros for code that returns absl::Status or
// absl::StatusOr<T>. Debian 12's Abseil (20220623) has no status_macros.h, so
// brook carries its own equivalents of ABSL_RETURN_IF_ERROR and
// ABSL_ASSIGN_OR_RETURN.
//
// Example:
//   absl::StatusOr<Table> Load(const std::string& path) {
//     BROOK_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//     BROOK_RETURN_IF_ERROR(Validate(text));
//     return Parse(text);
//   }
#ifndef BROOK_STATUS_H_
#define BROOK_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// BROOK_RETURN_IF_ERROR(expr): evaluates `expr` (an absl::Status) once and
// returns it from the enclosing function when it is not OK.
#define BROOK_RETURN_IF_ERROR(expr)                      \
  do {                                                   \
    ::absl::Status brook_status_internal_ = (expr);      \
    if (!brook_status_internal_.ok()) {                  \
      return brook_status_internal_;                     \
    }                                                    \
  } while (false)

#define BROOK_STATUS_INTERNAL_CONCAT_(a, b) a##b
#define BROOK_STATUS_INTERNAL_CONCAT(a, b) BROOK_STATUS_INTERNAL_CONCAT_(a, b)

// BROOK_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>);
// on error returns its status, else move-assigns the value to `lhs`, which may
// be a declaration (`auto x`) or an existing variable.
#define BROOK_ASSIGN_OR_RETURN(lhs, expr)                                     \
  BROOK_ASSIGN_OR_RETURN_IMPL_(                                               \
      BROOK_STATUS_INTERNAL_CONCAT(brook_statusor_internal_, __LINE__), lhs, \
      expr)

#define BROOK_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) {                                   \
    return std::move(statusor).status();                  \
  }                                                       \
  lhs = std::move(statusor).value()

#endif  // BROOK_STATUS_H_
