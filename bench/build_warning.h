// File: bench/build_warning.h
//
// As LevelDB's db_bench: a benchmark says so when its numbers cannot mean
// much, i.e. when built without optimisation or with assertions on.
#ifndef BROOK_BENCH_BUILD_WARNING_H_
#define BROOK_BENCH_BUILD_WARNING_H_

#include <cstdio>

namespace brook_bench {

// Prints the warnings that apply to this build of `program` to `out`;
// returns true (so it can initialise a namespace-scope constant).
inline bool WarnIfNotReleaseBuild(const char* program, std::FILE* out = stderr) {
#if !defined(__OPTIMIZE__)
  std::fprintf(out,
               "WARNING: %s built without optimisation; timings are not meaningful "
               "(build with CMAKE_BUILD_TYPE=Release)\n",
               program);
#endif
#if !defined(NDEBUG)
  std::fprintf(out,
               "WARNING: %s built with assertions enabled (NDEBUG not defined): "
               "timings are slower than a release build\n",
               program);
#endif
  (void)program;
  (void)out;
  return true;
}

}  // namespace brook_bench

#endif  // BROOK_BENCH_BUILD_WARNING_H_
