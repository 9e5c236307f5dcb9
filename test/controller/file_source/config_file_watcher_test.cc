// ConfigFileWatcher: content changes through writes, renames and symlink swaps, handed out
// only once settled. Time is a fake clock that the tests move: nothing here waits for real
// time to pass, and the started-watcher tests wait on the watcher's poll count instead.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "controller/file_source/config_file_watcher.h"
#include "test/controller/test_support.h"

using namespace portico::controller;
using namespace portico::controller::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Update = ConfigFileWatcher::Update;

// Sets the file's mtime forward so a rewrite within one clock tick still changes the stamp
// even on file systems with coarse timestamps.
void bumpMtime(const std::string& path, int seconds) {
  fs::last_write_time(path, fs::last_write_time(path) + std::chrono::seconds(seconds));
}

// A steady clock that only moves when told; safe to read from the watcher's thread.
class FakeClock {
 public:
  std::chrono::steady_clock::time_point now() const {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(nanos_.load()));
  }
  void advance(std::chrono::milliseconds d) { nanos_ += std::chrono::nanoseconds(d).count(); }
  ConfigFileWatcher::Clock clock() {
    return [this] { return now(); };
  }

 private:
  std::atomic<int64_t> nanos_{std::chrono::nanoseconds(1h).count()};
};

ConfigFileWatcher::Options immediate() { return {.pollInterval = 10ms, .settle = 0ms}; }

// "-" for no update, "content:<text>" or "error:<message>".
std::string show(const std::optional<Update>& u) {
  if (!u) return "-";
  return *u ? "content:" + **u : "error:" + u->error().message;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Collects a started watcher's updates.
struct Recorder {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<std::string> seen;

  ConfigFileWatcher::Callback callback() {
    return [this](const Update& u) {
      {
        std::lock_guard lock(mu);
        seen.push_back(show(u));
      }
      changed.notify_all();
    };
  }
  bool waitFor(size_t n) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, 10s, [&] { return seen.size() >= n; });
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mu);
    return seen;
  }
};

// Returns once the started watcher has run a whole poll that began after this call.
void waitForFreshPoll(const ConfigFileWatcher& watcher) {
  // Poll n+1 may have started before the caller's last action; n+2 starts after it.
  REQUIRE(watcher.waitForPollsForTest(watcher.pollCountForTest() + 2, 10s));
}

}  // namespace

TEST_SUITE("file_source") {

TEST_CASE("readNow returns the content at once; later polls only return changes") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "one");
  ConfigFileWatcher watcher(path, immediate());
  auto first = watcher.readNow();
  REQUIRE(first.has_value());
  CHECK(*first == "one");
  CHECK(show(watcher.poll()) == "-");
  writeText(path, "two!");
  bumpMtime(path, 1);
  CHECK(show(watcher.poll()) == "content:two!");
  CHECK(show(watcher.poll()) == "-");
}

TEST_CASE("readNow reports a missing file or a directory") {
  TempDir dir;
  ConfigFileWatcher missing(dir.file("none.yaml"), immediate());
  auto m = missing.readNow();
  REQUIRE_FALSE(m.has_value());
  CHECK(m.error().message == dir.file("none.yaml") + ": cannot read: No such file or directory");
  ConfigFileWatcher directory(dir.path(), immediate());
  auto d = directory.readNow();
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().message == dir.path() + ": cannot read: is a directory, not a file");
}

TEST_CASE("a touch or a rewrite with the same bytes is not a change") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "same");
  ConfigFileWatcher watcher(path, immediate());
  REQUIRE(watcher.readNow().has_value());
  bumpMtime(path, 5);
  CHECK(show(watcher.poll()) == "-");
  writeText(path, "same");
  bumpMtime(path, 10);
  CHECK(show(watcher.poll()) == "-");
}

TEST_CASE("an editor's write-temp-then-rename is seen, even with the same size and mtime") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "aaaa");
  ConfigFileWatcher watcher(path, immediate());
  REQUIRE(watcher.readNow().has_value());
  auto mtime = fs::last_write_time(path);
  std::string tmp = dir.file(".cfg.yaml.swp");
  writeText(tmp, "bbbb");
  fs::last_write_time(tmp, mtime);  // only the inode differs
  fs::rename(tmp, path);
  CHECK(show(watcher.poll()) == "content:bbbb");
}

TEST_CASE("a ConfigMap-style ..data symlink swap is seen through the file's symlink") {
  TempDir dir;
  fs::create_directory(dir.file("v1"));
  fs::create_directory(dir.file("v2"));
  writeText(dir.file("v1/cfg.yaml"), "version 1");
  writeText(dir.file("v2/cfg.yaml"), "version 2");
  fs::create_directory_symlink("v1", dir.file("..data"));
  fs::create_symlink("..data/cfg.yaml", dir.file("cfg.yaml"));
  FakeClock clock;
  ConfigFileWatcher watcher(dir.file("cfg.yaml"), {.pollInterval = 10ms, .settle = 1s, .clock = clock.clock()});
  CHECK(*watcher.readNow() == "version 1");
  // kubelet: new symlink, then rename over ..data (atomic).
  fs::create_directory_symlink("v2", dir.file("..data_tmp"));
  fs::rename(dir.file("..data_tmp"), dir.file("..data"));
  CHECK(show(watcher.poll()) == "-");
  clock.advance(1s);
  CHECK(show(watcher.poll()) == "content:version 2");
}

TEST_CASE("a change is handed out only once it has stayed the same for the settle interval") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "v0");
  FakeClock clock;
  ConfigFileWatcher watcher(path, {.pollInterval = 10ms, .settle = 1s, .clock = clock.clock()});
  REQUIRE(watcher.readNow().has_value());
  writeText(path, "v1");
  CHECK(show(watcher.poll()) == "-");
  clock.advance(999ms);
  CHECK(show(watcher.poll()) == "-");
  clock.advance(1ms);
  CHECK(show(watcher.poll()) == "content:v1");
  clock.advance(5s);
  CHECK(show(watcher.poll()) == "-");
}

TEST_CASE("a file still being written in place starts the settle interval over at each change") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "old: file\n");
  FakeClock clock;
  ConfigFileWatcher watcher(path, {.pollInterval = 10ms, .settle = 1s, .clock = clock.clock()});
  REQUIRE(watcher.readNow().has_value());

  FILE* out = std::fopen(path.c_str(), "wb");  // truncates: the watcher now sees ""
  REQUIRE(out != nullptr);
  CHECK(show(watcher.poll()) == "-");
  clock.advance(600ms);
  std::fputs("rules: [a", out);
  std::fflush(out);
  CHECK(show(watcher.poll()) == "-");  // "" lasted 600ms only
  clock.advance(600ms);
  std::fputs(", b]\n", out);
  std::fclose(out);
  CHECK(show(watcher.poll()) == "-");  // "rules: [a" lasted 600ms only
  clock.advance(600ms);
  CHECK(show(watcher.poll()) == "-");  // the whole file: 600ms so far
  clock.advance(400ms);
  CHECK(show(watcher.poll()) == "content:rules: [a, b]\n");
}

TEST_CASE("an unusable path is handed out once as an error after it settles; a short gap is not") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "good");
  FakeClock clock;
  ConfigFileWatcher watcher(path, {.pollInterval = 10ms, .settle = 1s, .clock = clock.clock()});
  REQUIRE(watcher.readNow().has_value());

  // Removed and written again within the interval (a non-atomic replace): no error.
  fs::remove(path);
  CHECK(show(watcher.poll()) == "-");
  clock.advance(500ms);
  writeText(path, "better");
  CHECK(show(watcher.poll()) == "-");
  clock.advance(1s);
  CHECK(show(watcher.poll()) == "content:better");

  // Replaced by a directory for good: one error, once settled.
  fs::remove(path);
  fs::create_directory(path);
  CHECK(show(watcher.poll()) == "-");
  clock.advance(1s);
  CHECK(show(watcher.poll()) == "error:" + path + ": cannot read: is a directory, not a file");
  clock.advance(1s);
  CHECK(show(watcher.poll()) == "-");

  // Gone: another error.
  fs::remove(path);
  CHECK(show(watcher.poll()) == "-");
  clock.advance(1s);
  auto gone = show(watcher.poll());
  CHECK(gone == "error:" + path + ": cannot read: No such file or directory");

  // Back with the content last handed out: nothing to do; with new content: handed out.
  writeText(path, "better");
  CHECK(show(watcher.poll()) == "-");
  clock.advance(1s);
  CHECK(show(watcher.poll()) == "-");
  writeText(path, "best");
  clock.advance(1s);
  CHECK(show(watcher.poll()) == "-");
  clock.advance(1s);
  CHECK(show(watcher.poll()) == "content:best");
}

TEST_CASE("a FIFO is refused instead of blocking the watcher") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  ConfigFileWatcher watcher(path, immediate());
  auto read = watcher.readNow();
  REQUIRE_FALSE(read.has_value());
  CHECK(contains(read.error().message, "not a regular file"));
}

TEST_CASE("a started watcher never hands out a half-written file and calls back for each settled change") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "v0");
  FakeClock clock;
  ConfigFileWatcher watcher(path, {.pollInterval = 1ms, .settle = 1s, .clock = clock.clock()});
  REQUIRE(watcher.readNow().has_value());
  Recorder recorder;
  watcher.start(recorder.callback());

  // Written in one go: the watcher may see "" or a part while it is written, but the
  // clock does not move until the write is done and the watcher has seen the result.
  writeText(path, "v1");
  waitForFreshPoll(watcher);
  clock.advance(1s);
  REQUIRE(recorder.waitFor(1));

  // Written in two parts, with a poll between them: the part is seen and must not be
  // handed out, since the file changed again before it settled.
  FILE* out = std::fopen(path.c_str(), "wb");
  REQUIRE(out != nullptr);
  std::fputs("v2", out);
  std::fflush(out);
  waitForFreshPoll(watcher);
  clock.advance(500ms);
  waitForFreshPoll(watcher);
  std::fputs("2", out);
  std::fclose(out);
  waitForFreshPoll(watcher);
  clock.advance(500ms);  // "v2" would have settled now; "v22" has not
  waitForFreshPoll(watcher);
  CHECK(recorder.snapshot().size() == 1);
  clock.advance(500ms);
  REQUIRE(recorder.waitFor(2));

  watcher.stop();
  const auto polls = watcher.pollCountForTest();
  writeText(path, "after stop");
  clock.advance(10s);
  CHECK_FALSE(watcher.waitForPollsForTest(polls + 1, 50ms));
  CHECK(recorder.snapshot() == std::vector<std::string>{"content:v1", "content:v22"});
}

TEST_CASE("stop() before start() and twice is safe") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "x");
  ConfigFileWatcher watcher(path, immediate());
  watcher.stop();
  watcher.stop();
  watcher.start([](const Update&) {});  // refused after stop: no thread to join
  watcher.stop();
}

}  // TEST_SUITE
