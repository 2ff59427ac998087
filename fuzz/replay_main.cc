// brook_fuzz_replay: runs every fuzz target over the inputs of its corpus
// (fuzz/corpus/<target>/*: the seeds and the inputs that once crashed, kept
// as regression tests), without libFuzzer, so that the ordinary builds (g++,
// Release and ASan+UBSan) run them in ctest. A target that crashes on an
// input crashes this program; it prints each input before running it.
//
//   brook_fuzz_replay CORPUS_DIR [TARGET...]   (default: every target)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#define BROOK_FUZZ_TARGETS(X) \
  X(csv_records)              \
  X(jsonl_records)            \
  X(locations)                \
  X(kafka_value)              \
  X(checkpoint_file)          \
  X(checkpoint_load)          \
  X(file_sink_state)          \
  X(http_request)

#define DECLARE(name) extern "C" int BrookFuzz_##name(const uint8_t* data, size_t size);
BROOK_FUZZ_TARGETS(DECLARE)
#undef DECLARE

namespace {

struct Target {
  const char* name;
  int (*run)(const uint8_t*, size_t);
};

#define ENTRY(name) {#name, &BrookFuzz_##name},
constexpr Target kTargets[] = {BROOK_FUZZ_TARGETS(ENTRY)};
#undef ENTRY

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [TARGET...]\n", argv[0]);
    return 2;
  }
  const fs::path corpus = argv[1];
  std::vector<std::string> wanted(argv + 2, argv + argc);
  int total = 0;
  for (const Target& target : kTargets) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), target.name) == wanted.end()) {
      continue;
    }
    const fs::path dir = corpus / target.name;
    std::vector<fs::path> inputs;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) inputs.push_back(entry.path());
    }
    std::sort(inputs.begin(), inputs.end());
    if (inputs.empty()) {
      std::fprintf(stderr, "%s: no inputs in %s\n", target.name, dir.c_str());
      return 1;
    }
    for (const fs::path& input : inputs) {
      std::fprintf(stderr, "%s %s\n", target.name, input.filename().c_str());
      std::ifstream in(input, std::ios::binary);
      const std::string bytes(std::istreambuf_iterator<char>(in), {});
      target.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }
    std::printf("%s: %zu inputs replayed\n", target.name, inputs.size());
    total += static_cast<int>(inputs.size());
  }
  std::printf("fuzz replay: %d inputs, no crash\n", total);
  return 0;
}
