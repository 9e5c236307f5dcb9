// Watches the standalone config file for content changes by polling.
//
//   ConfigFileWatcher watcher(path);
//   auto first = watcher.poll();                 // the initial content
//   watcher.start([&](const std::string& text) { reload(renderConfigText(text, path)); });
//
// Polling stat() (following symlinks) catches every way a file gets replaced: in-place
// writes, editors that write a temporary file and rename it over the old one, and
// Kubernetes ConfigMap volumes, which swap a "..data" symlink. A change of the stat
// stamp (device, inode, size, mtime, ctime) triggers a read; the content is then compared
// with the last content handed out, so a touch or a rewrite with the same bytes is no
// change.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace portico::controller {

class ConfigFileWatcher {
 public:
  using Callback = std::function<void(const std::string& content)>;

  explicit ConfigFileWatcher(std::string path,
                             std::chrono::milliseconds interval = std::chrono::milliseconds(500));
  ~ConfigFileWatcher();  // stop()
  ConfigFileWatcher(const ConfigFileWatcher&) = delete;
  ConfigFileWatcher& operator=(const ConfigFileWatcher&) = delete;

  // Checks the file once. Returns its content when it differs from the content last
  // returned (the first successful call always returns it); nullopt when it is unchanged
  // or cannot be read right now (lastError() says why; the next poll tries again).
  // Thread-safe, but a started watcher polls on its own.
  [[nodiscard]] std::optional<std::string> poll();

  // Polls every interval on a background thread and calls onChange (on that thread) with
  // each new content. An exception from onChange is swallowed. Call at most once.
  void start(Callback onChange);

  // Stops and joins the thread; idempotent. No callback runs after it returns.
  void stop();

  // Why the last poll could not read the file; empty if it could.
  std::string lastError() const;

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

  const std::string path_;
  const std::chrono::milliseconds interval_;

  mutable std::mutex mu_;
  std::optional<Stamp> stamp_;           // of the last successful read
  std::optional<std::string> content_;   // last content returned
  std::string lastError_;

  std::mutex threadMu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace portico::controller
