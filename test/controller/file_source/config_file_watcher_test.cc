// ConfigFileWatcher: content changes through writes, renames and symlink swaps.
#include <unistd.h>

#include <atomic>
#include <chrono>
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

// Sets the file's mtime forward so a rewrite within one clock tick still changes the stamp
// even on file systems with coarse timestamps.
void bumpMtime(const std::string& path, int seconds) {
  fs::last_write_time(path, fs::last_write_time(path) + std::chrono::seconds(seconds));
}

}  // namespace

TEST_SUITE("file_source") {

TEST_CASE("the first poll returns the content; later polls only return changes") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "one");
  ConfigFileWatcher watcher(path, 10ms);
  CHECK(watcher.poll() == std::optional<std::string>("one"));
  CHECK_FALSE(watcher.poll().has_value());
  writeText(path, "two!");
  bumpMtime(path, 1);
  CHECK(watcher.poll() == std::optional<std::string>("two!"));
  CHECK_FALSE(watcher.poll().has_value());
}

TEST_CASE("a touch or a rewrite with the same bytes is not a change") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "same");
  ConfigFileWatcher watcher(path, 10ms);
  REQUIRE(watcher.poll().has_value());
  bumpMtime(path, 5);
  CHECK_FALSE(watcher.poll().has_value());
  writeText(path, "same");
  bumpMtime(path, 10);
  CHECK_FALSE(watcher.poll().has_value());
}

TEST_CASE("an editor's write-temp-then-rename is seen, even with the same size and mtime") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "aaaa");
  ConfigFileWatcher watcher(path, 10ms);
  REQUIRE(watcher.poll().has_value());
  auto mtime = fs::last_write_time(path);
  std::string tmp = dir.file(".cfg.yaml.swp");
  writeText(tmp, "bbbb");
  fs::last_write_time(tmp, mtime);  // only the inode differs
  fs::rename(tmp, path);
  CHECK(watcher.poll() == std::optional<std::string>("bbbb"));
}

TEST_CASE("a ConfigMap-style ..data symlink swap is seen through the file's symlink") {
  TempDir dir;
  fs::create_directory(dir.file("v1"));
  fs::create_directory(dir.file("v2"));
  writeText(dir.file("v1/cfg.yaml"), "version 1");
  writeText(dir.file("v2/cfg.yaml"), "version 2");
  fs::create_directory_symlink("v1", dir.file("..data"));
  fs::create_symlink("..data/cfg.yaml", dir.file("cfg.yaml"));
  ConfigFileWatcher watcher(dir.file("cfg.yaml"), 10ms);
  CHECK(watcher.poll() == std::optional<std::string>("version 1"));
  // kubelet: new symlink, then rename over ..data (atomic).
  fs::create_directory_symlink("v2", dir.file("..data_tmp"));
  fs::rename(dir.file("..data_tmp"), dir.file("..data"));
  CHECK(watcher.poll() == std::optional<std::string>("version 2"));
}

TEST_CASE("a missing file is reported by lastError and picked up when it appears") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  ConfigFileWatcher watcher(path, 10ms);
  CHECK_FALSE(watcher.poll().has_value());
  CHECK(watcher.lastError().find("No such file") != std::string::npos);
  writeText(path, "now");
  CHECK(watcher.poll() == std::optional<std::string>("now"));
  CHECK(watcher.lastError().empty());
  fs::remove(path);
  CHECK_FALSE(watcher.poll().has_value());
  writeText(path, "now");  // back with the content we already had: no change
  CHECK_FALSE(watcher.poll().has_value());
}

TEST_CASE("a started watcher calls back on its thread for each change and stops cleanly") {
  TempDir dir;
  std::string path = dir.file("cfg.yaml");
  writeText(path, "v0");
  ConfigFileWatcher watcher(path, 5ms);
  REQUIRE(watcher.poll().has_value());
  std::mutex mu;
  std::vector<std::string> seen;
  watcher.start([&](const std::string& content) {
    std::lock_guard lock(mu);
    seen.push_back(content);
  });
  auto waitFor = [&](size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (seen.size() >= n) return true;
      }
      std::this_thread::sleep_for(2ms);
    }
    return false;
  };
  writeText(path, "v1");
  bumpMtime(path, 1);
  REQUIRE(waitFor(1));
  writeText(path, "v22");
  bumpMtime(path, 2);
  REQUIRE(waitFor(2));
  watcher.stop();
  std::lock_guard lock(mu);
  CHECK(seen == std::vector<std::string>{"v1", "v22"});
}

}  // TEST_SUITE
