// Shared by the storage-fault tests of the engine and the connectors: the
// faults each step is tried with, and what they look like in an error.
#ifndef BROOK_TESTS_ENGINE_FAULT_TEST_UTIL_H_
#define BROOK_TESTS_ENGINE_FAULT_TEST_UTIL_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "brook/testing/fault_injection_file_system.h"
#include "gtest/gtest.h"

namespace brook::testing {

struct FaultCase {
  FaultInjectionFileSystem::Fault fault;
  bool power_cut;  // after the fault, before the restart
};

// Every fault; a crash always ends in a power cut.
inline auto AllFaultCases() {
  using F = FaultInjectionFileSystem::Fault;
  return ::testing::Values(FaultCase{F::kNoSpace, false}, FaultCase{F::kNoSpace, true},
                           FaultCase{F::kIoError, false}, FaultCase{F::kIoError, true},
                           FaultCase{F::kShortWrite, false}, FaultCase{F::kShortWrite, true},
                           FaultCase{F::kCrash, true});
}

inline std::string FaultCaseName(const ::testing::TestParamInfo<FaultCase>& info) {
  return absl::StrCat(FaultInjectionFileSystem::FaultName(info.param.fault),
                      info.param.power_cut ? "ThenPowerCut" : "");
}

// The errno text an error caused by `fault` carries.
inline const char* ErrnoText(FaultInjectionFileSystem::Fault fault) {
  using F = FaultInjectionFileSystem::Fault;
  return fault == F::kNoSpace || fault == F::kShortWrite ? "No space left on device"
                                                         : "Input/output error";
}

// The rule that fails exactly `step` of a logged run.
inline FaultInjectionFileSystem::Rule RuleFor(const FaultInjectionFileSystem::Operation& step,
                                              FaultInjectionFileSystem::Fault fault) {
  return {.op = step.op, .path = step.path + "$", .nth = step.nth, .fault = fault};
}

}  // namespace brook::testing

#endif  // BROOK_TESTS_ENGINE_FAULT_TEST_UTIL_H_
