// Watches the standalone config file by polling, and hands out a change only once it has
// settled.
//
//   ConfigFileWatcher watcher(path, {.pollInterval = 500ms, .settle = 1s});
//   auto first = watcher.readNow();              // the content at startup, or why not
//   watcher.start([&](const ConfigFileWatcher::Update& u) {
//     if (u) reload(*u); else log(u.error().message);
//   });
//
// Polling stat() (following symlinks) catches every way a file gets replaced: in-place
// writes, editors that write a temporary file and rename it over the old one, and
// Kubernetes ConfigMap volumes, which swap a "..data" symlink.
//
// The settle rule: what the path holds (some content, or an error such as "No such file"
// or "is a directory") is handed out only after every poll for `settle` has seen the same
// thing. A writer that truncates the file and writes it in place is therefore read only
// when it has stopped writing for `settle`: a half-written file is never handed out unless
// the writer stalls (or dies) for that long, which the file's end marker covers (see
// ConfigFileLoader). A rename or a symlink swap is atomic and simply waits out the interval.
// Content equal to the content last handed out is no change (a touch, a rewrite with the
// same bytes, a file that comes back after an error); an error is handed out once, until
// the path holds content again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "proxy/common/expected.h"

namespace portico::controller {

struct ConfigFileWatcherOptions {
  std::chrono::milliseconds pollInterval{500};
  // How long the path must hold the same thing before it is handed out; 0: at once.
  std::chrono::milliseconds settle{1000};
  // Empty: steady_clock::now; tests inject a fake one.
  std::function<std::chrono::steady_clock::time_point()> clock = {};
};

class ConfigFileWatcher {
 public:
  using Options = ConfigFileWatcherOptions;
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // New content, or why the path cannot be used ("FILE: cannot read: is a directory, ...").
  using Update = Expected<std::string>;
  using Callback = std::function<void(const Update& update)>;

  explicit ConfigFileWatcher(std::string path, Options options = {});
  ~ConfigFileWatcher();  // stop()
  ConfigFileWatcher(const ConfigFileWatcher&) = delete;
  ConfigFileWatcher& operator=(const ConfigFileWatcher&) = delete;

  // Reads the file now, without waiting for it to settle (startup: there is no older table
  // to keep). Content read becomes what later polls compare with.
  [[nodiscard]] Update readNow();

  // Checks the path once. Returns an update when the path has held the same thing for the
  // settle interval and that differs from what was last handed out; nullopt otherwise.
  // Thread-safe, but a started watcher polls on its own.
  [[nodiscard]] std::optional<Update> poll();

  // Polls every interval on a background thread and calls onUpdate (on that thread) with
  // each update. An exception from onUpdate is swallowed. Call at most once.
  void start(Callback onUpdate);

  // Stops and joins the thread; idempotent. No callback runs after it returns.
  void stop();

  // Polls completed so far, and a wait for the count to reach n (false on timeout): lets a
  // test know that the watcher has looked at the file since it wrote it.
  uint64_t pollCountForTest() const;
  bool waitForPollsForTest(uint64_t n, std::chrono::milliseconds timeout) const;

  const std::string& path() const { return path_; }

 private:
  struct Stamp {
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t size = -1;
    int64_t mtimeNs = 0;
    int64_t ctimeNs = 0;
    bool operator==(const Stamp&) const = default;
  };

  // What the path holds now. With useCache, an unchanged stamp reuses the last read.
  Update observe(bool useCache);
  std::chrono::steady_clock::time_point now() const;

  const std::string path_;
  const Options options_;

  mutable std::mutex mu_;
  mutable std::condition_variable polled_;
  uint64_t polls_ = 0;
  std::optional<Stamp> stamp_;          // of the last read that the file did not change under
  std::string stampContent_;            // that read
  std::optional<Update> candidate_;     // what the last poll saw
  std::chrono::steady_clock::time_point candidateSince_;
  std::optional<std::string> deliveredContent_;  // last content handed out
  std::string deliveredError_;          // last error handed out since content was

  std::mutex threadMu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace portico::controller
