// File: tests/postgres/camera_postgres_test.cc
//
// The camera job with --postgres against a real server: the table equals the
// CSV output (utopia data, a windowed generated input); exactly once under
// kill -9 of the job at random instants and under a server crash; the
// dashboard queries of docs/results-stores.md return the expected
// rows; bad servers, credentials and tables are refused with exit status 2.
// Built when the examples are (BROOK_WITH_CAMERA_JOB).
#ifdef BROOK_WITH_CAMERA_JOB

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/postgres/postgres_client.h"
#include "brook/testing/status_matchers.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/postgres_output.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "postgres/postgres_fixture.h"

namespace brook::connectors {
namespace {

namespace fs = std::filesystem;
using ::brook::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Sanitizer builds (-O0) run the job about ten times slower: the generated
// inputs shrink so that the suite stays within CI's time.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
constexpr int64_t Events(int64_t release, int64_t sanitized) {
  return kSanitized ? sanitized : release;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class CameraPostgresTest : public PostgresServerTest {
 protected:
  void SetUp() override {
    PostgresServerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("camera-postgres-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure() && !dir_.empty()) fs::remove_all(dir_);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // The table as the CSV the job writes: the header, then rows in the CSV's
  // order (window end, window start, location oid, rank), NULL bounds empty.
  std::string TableAsCsv(const std::string& table) {
    auto rows = PostgresQuery(
        server()->conninfo(),
        absl::StrCat("SELECT coalesce(window_start::text, ''), coalesce(window_end::text, ''), "
                     "geographical_location_oid, geographical_location, item_rank, item_name, "
                     "item_count FROM ",
                     table,
                     " ORDER BY window_end NULLS FIRST, window_start, geographical_location_oid, "
                     "item_rank"));
    EXPECT_THAT(rows, IsOk());
    std::string csv =
        "window_start,window_end,geographical_location_oid,geographical_location,item_rank,"
        "item_name,item_count\n";
    if (!rows.ok()) return csv;
    for (const auto& r : *rows) AppendCsvRow(csv, r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
    return csv;
  }
  std::vector<std::vector<std::string>> Query(const std::string& sql) {
    auto rows = PostgresQuery(server()->conninfo(), sql);
    EXPECT_THAT(rows, IsOk()) << sql;
    return rows.ok() ? *rows : std::vector<std::vector<std::string>>{};
  }

  // Runs the binary with `args`; SIGKILLs it after `kill_after` when set.
  // Returns its exit status (or 128 + signal), stderr in `err`.
  int RunJob(const std::vector<std::string>& args, std::string* err,
             std::chrono::milliseconds kill_after = std::chrono::milliseconds(0)) {
    const std::string err_path = Path("stderr.txt");
    const pid_t pid = fork();
    if (pid == 0) {
      std::vector<char*> argv;
      std::string binary = CAMERA_TOP_K_BINARY;
      argv.push_back(binary.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      if (!freopen(err_path.c_str(), "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(99);
      execv(argv[0], argv.data());
      _exit(98);
    }
    int status = 0;
    if (kill_after.count() > 0) {
      const auto deadline = std::chrono::steady_clock::now() + kill_after;
      while (std::chrono::steady_clock::now() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) goto done;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      kill(pid, SIGKILL);
    }
    waitpid(pid, &status, 0);
  done:
    if (err != nullptr) *err = ReadFile(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // A windowed generated input: 100 one-second windows, 50 locations, top 5.
  std::vector<std::string> GeneratedJob(const std::string& table, int64_t count = 1000000) {
    return {"--generate",
            absl::StrCat("--generate_count=", count),
            "--window=1s",
            "--top_x=5",
            "--progress=false",
            absl::StrCat("--postgres=", server()->conninfo()),
            absl::StrCat("--results_table=", table)};
  }

  fs::path dir_;
};

TEST_F(CameraPostgresTest, UtopiaTableEqualsTheCsvOutput) {
  const char* shared = std::getenv("BROOK_SHARED_DATA");
  const std::string data = absl::StrCat(shared == nullptr ? "" : shared, "/utopia");
  if (!fs::exists(data + "/camera_detection_events.csv")) {
    GTEST_SKIP() << "no utopia data at " << data << " (BROOK_SHARED_DATA)";
  }
  if (kSanitized) GTEST_SKIP() << "a million detections: Release builds only (about 25 s here)";
  camera::CameraJobOptions o;
  o.detections_path = data + "/camera_detection_events.csv";
  o.locations_path = data + "/geographical_locations.csv";
  o.timestamp_unit = camera::TimestampUnit::kSeconds;
  o.output_path = Path("out.csv");
  o.result_stores.push_back(camera::PostgresResultStore(server()->conninfo(), "utopia",
                                                        /*exactly_once=*/false));
  auto job = camera::CameraJob::Create(o);
  ASSERT_THAT(job, IsOk());
  ASSERT_THAT((*job)->Run(), IsOk());
  const std::string csv = ReadFile(o.output_path);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 501);
  EXPECT_EQ(TableAsCsv("utopia"), csv);
  EXPECT_THAT(Query("SELECT count(*) FROM utopia WHERE window_start IS NULL"),
              ::testing::ElementsAre(::testing::ElementsAre("500")));
}

TEST_F(CameraPostgresTest, WindowedTableEqualsTheCsvOutputAndReplacesAnEarlierRun) {
  std::string err;
  auto args = GeneratedJob("windowed", Events(200000, 50000));
  args.push_back("--output=" + Path("out.csv"));
  ASSERT_EQ(RunJob(args, &err), 0) << err;
  ASSERT_EQ(RunJob(args, &err), 0) << err;  // a second run replaces the rows, as the file
  const std::string csv = ReadFile(Path("out.csv"));
  EXPECT_GT(std::count(csv.begin(), csv.end(), '\n'), 1000);
  EXPECT_EQ(TableAsCsv("windowed"), csv);
}

TEST_F(CameraPostgresTest, KilledAtRandomInstantsTheTableEqualsTheUninterruptedOutput) {
  std::string err;
  auto reference = GeneratedJob("kill_reference", Events(500000, 50000));
  reference.push_back("--output=" + Path("reference.csv"));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(RunJob(reference, &err), 0) << err;
  // Kill instants spread over the uninterrupted run's duration (longer in a
  // sanitizer build).
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);

  auto args = GeneratedJob("killed", Events(500000, 50000));
  args.push_back("--checkpoint_dir=" + Path("checkpoints"));
  args.push_back("--checkpoint_interval=50ms");  // no --output: the table alone
  std::mt19937 random(std::random_device{}());
  int kills = 0;
  int status = -1;
  // Restarted with the same flags until it finishes after ten kills; a run
  // that finishes before that is restarted too (it restores its last
  // checkpoint and replays the rest, which is already in the table).
  for (int run = 0; run < 60 && !(status == 0 && kills >= 10); ++run) {
    const bool kill_it = kills < 10;
    const auto kill_after = std::chrono::milliseconds(
        kill_it ? duration.count() / 10 + random() % (duration.count() * 7 / 10 + 1) : 0);
    status = RunJob(args, &err, kill_after);
    if (status == 128 + SIGKILL) {
      ++kills;
    } else {
      ASSERT_EQ(status, 0) << err;
    }
  }
  EXPECT_GE(kills, 10);
  // Once more after the end: it restores the last checkpoint and replays the
  // rest, which the table already holds.
  ASSERT_EQ(RunJob(args, &err), 0) << err;
  EXPECT_THAT(err, HasSubstr("restored from"));
  EXPECT_EQ(TableAsCsv("killed"), ReadFile(Path("reference.csv")));
  EXPECT_THAT(Query("SELECT window_end, geographical_location_oid, item_rank FROM killed "
                    "GROUP BY 1, 2, 3 HAVING count(*) > 1"),
              IsEmpty());
  EXPECT_THAT(Query("SELECT gid FROM pg_prepared_xacts"), IsEmpty());
}

TEST_F(CameraPostgresTest, AServerCrashFailsTheJobWhichThenResumes) {
  std::string err;
  const int64_t events = Events(400000, 40000);
  auto reference = GeneratedJob("crash_reference", events);
  reference.push_back("--output=" + Path("reference.csv"));
  ASSERT_EQ(RunJob(reference, &err), 0) << err;

  auto args = GeneratedJob("server_crash", events);
  args.push_back("--checkpoint_dir=" + Path("checkpoints"));
  args.push_back("--checkpoint_interval=50ms");
  args.push_back(absl::StrCat("--generate_rate=", events));  // about a second
  // The server dies once the job's sink has begun its first transaction
  // (pg_stat_activity shows a connection's last statement).
  std::thread crash([this] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      auto rows = PostgresQuery(server()->conninfo(),
                                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                "'brook' AND (query LIKE 'DELETE%' OR query LIKE 'COPY%' OR "
                                "query LIKE 'PREPARE%')");
      if (rows.ok() && (*rows)[0][0] != "0") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_THAT(server()->Kill(), IsOk());
  });
  const int status = RunJob(args, &err);
  crash.join();
  EXPECT_EQ(status, 1) << err;
  EXPECT_THAT(err, HasSubstr("postgres"));
  ASSERT_THAT(server()->Restart(), IsOk());
  ASSERT_EQ(RunJob(args, &err), 0) << err;
  EXPECT_THAT(err, HasSubstr("restored"));
  EXPECT_EQ(TableAsCsv("server_crash"), ReadFile(Path("reference.csv")));
}

// The ```sql blocks of docs/results-stores.md, by their first line
// ("-- name: ...").
std::map<std::string, std::string> DocumentedQueries() {
  std::map<std::string, std::string> queries;
  const std::string doc =
      ReadFile(absl::StrCat(BROOK_SOURCE_DIR, "/docs/results-stores.md"));
  for (absl::string_view block : absl::StrSplit(doc, "```sql\n")) {
    if (!absl::StartsWith(block, "-- name: ")) continue;
    const size_t eol = block.find('\n');
    const size_t end = block.find("```");
    queries[std::string(block.substr(9, eol - 9))] =
        std::string(block.substr(eol + 1, end - eol - 1));
  }
  return queries;
}

TEST_F(CameraPostgresTest, DocumentedDashboardQueriesReturnTheExpectedRows) {
  std::string err;
  auto args = GeneratedJob("camera_top_k", Events(200000, 50000));
  args.push_back("--output=" + Path("out.csv"));
  ASSERT_EQ(RunJob(args, &err), 0) << err;
  // The expectations, from the CSV: rows by (location, window end).
  std::map<std::pair<std::string, int64_t>, std::vector<std::vector<std::string>>> by_window;
  std::map<std::string, int64_t> latest;
  std::vector<std::string> lines =
      absl::StrSplit(ReadFile(Path("out.csv")), '\n', absl::SkipEmpty());
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], ',');  // generated names: no commas
    ASSERT_EQ(f.size(), 7u) << lines[i];
    const int64_t end = std::stoll(f[1]);
    by_window[{f[2], end}].push_back(f);
    latest[f[2]] = std::max(latest[f[2]], end);
  }
  const auto queries = DocumentedQueries();
  ASSERT_EQ(queries.size(), 3u);
  auto run = [&](const std::string& name, const std::string& location, int windows) {
    EXPECT_TRUE(queries.count(name)) << name;
    return Query(absl::StrReplaceAll(queries.at(name), {{"$location", location},
                                                        {"$windows", absl::StrCat(windows)},
                                                        {"$table", "camera_top_k"}}));
  };
  // Top X of one location in the latest window: rank, item, count.
  const std::string location = latest.begin()->first;
  std::vector<std::vector<std::string>> expected;
  for (const auto& f : by_window[{location, latest[location]}]) {
    expected.push_back({f[4], f[5], f[6]});
  }
  EXPECT_EQ(run("top_of_location", location, 0), expected);
  // Of every location: its latest window's rows, by location and rank.
  expected.clear();
  for (const auto& [oid, end] : latest) {
    for (const auto& f : by_window[{oid, end}]) expected.push_back({f[2], f[3], f[4], f[5], f[6]});
  }
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return std::pair(std::stoll(a[0]), std::stoi(a[2])) <
           std::pair(std::stoll(b[0]), std::stoi(b[2]));
  });
  EXPECT_EQ(run("top_of_every_location", "", 0), expected);
  // The counts of one location's top items over its last 3 windows.
  expected.clear();
  std::vector<int64_t> ends;
  for (const auto& [key, rows] : by_window) {
    if (key.first == location) ends.push_back(key.second);
  }
  for (size_t i = ends.size() - 3; i < ends.size(); ++i) {
    for (const auto& f : by_window[{location, ends[i]}]) expected.push_back({f[1], f[5], f[6]});
  }
  EXPECT_EQ(run("location_history", location, 3), expected);

  // The Grafana dashboard's panels (docs/grafana/camera_top_k_postgres.json,
  // built from these queries) run too, and return rows.
  const std::string grafana =
      ReadFile(absl::StrCat(BROOK_SOURCE_DIR, "/docs/grafana/camera_top_k_postgres.json"));
  int panels = 0;
  for (size_t at = grafana.find("\"rawSql\": \""); at != std::string::npos;
       at = grafana.find("\"rawSql\": \"", at + 1)) {
    std::string sql;  // the JSON string, unescaped (\n, \", \\ only)
    for (size_t i = at + 11; i < grafana.size() && grafana[i] != '"'; ++i) {
      if (grafana[i] == '\\' && i + 1 < grafana.size()) {
        ++i;
        sql.push_back(grafana[i] == 'n' ? '\n' : grafana[i]);
      } else {
        sql.push_back(grafana[i]);
      }
    }
    ++panels;
    EXPECT_THAT(Query(absl::StrReplaceAll(sql, {{"$location", location}, {"$windows", "3"}})),
                ::testing::Not(IsEmpty()))
        << sql;
  }
  EXPECT_EQ(panels, 3);
}

TEST_F(CameraPostgresTest, BadServerCredentialsOrTableExitWithStatusTwo) {
  std::string err;
  auto args = GeneratedJob("t", 1000);
  args[5] = "--postgres=host=127.0.0.1 port=1 user=postgres connect_timeout=2";
  EXPECT_EQ(RunJob(args, &err), 2);
  EXPECT_THAT(err, HasSubstr("--postgres: postgres: cannot connect"));
  args[5] = absl::StrCat("--postgres=postgresql://postgres:wrong@127.0.0.1:", server()->port(),
                         "/postgres");
  EXPECT_EQ(RunJob(args, &err), 2);
  EXPECT_THAT(err, HasSubstr("authentication failed"));
  Query("CREATE TABLE other_columns (window_start BIGINT, label TEXT)");
  args = GeneratedJob("other_columns", 1000);
  EXPECT_EQ(RunJob(args, &err), 2);
  EXPECT_THAT(err, HasSubstr("--results_table=other_columns: postgres sink: table "
                             "\"other_columns\" exists with columns (window_start bigint, label "
                             "text)"));
}

}  // namespace
}  // namespace brook::connectors

#endif  // BROOK_WITH_CAMERA_JOB
