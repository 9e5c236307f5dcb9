#include "controller/file_source/config_file_watcher.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace portico::controller {
namespace {

int64_t nanos(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

}  // namespace

ConfigFileWatcher::ConfigFileWatcher(std::string path, std::chrono::milliseconds interval)
    : path_(std::move(path)), interval_(interval) {}

ConfigFileWatcher::~ConfigFileWatcher() { stop(); }

std::optional<std::string> ConfigFileWatcher::poll() {
  std::lock_guard lock(mu_);
  auto statFile = [this](Stamp& out) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return false;
    out = Stamp{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                static_cast<int64_t>(st.st_size), nanos(st.st_mtim), nanos(st.st_ctim)};
    return true;
  };

  Stamp before;
  if (!statFile(before)) {
    lastError_ = path_ + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (stamp_ && *stamp_ == before) return std::nullopt;

  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    lastError_ = path_ + ": cannot read: " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    lastError_ = path_ + ": cannot read: " + std::strerror(errno);
    return std::nullopt;
  }
  lastError_.clear();

  // If the file moved while we read it, what we read may be half old, half new: do not
  // remember the stamp, so the next poll reads it again.
  Stamp after;
  if (statFile(after) && after == before) {
    stamp_ = before;
  } else {
    stamp_.reset();
  }
  std::string content = std::move(buffer).str();
  if (content_ && *content_ == content) return std::nullopt;
  content_ = content;
  return content;
}

void ConfigFileWatcher::start(Callback onChange) {
  {
    std::lock_guard lock(threadMu_);
    if (thread_.joinable() || stopping_) return;
  }
  thread_ = std::thread([this, onChange = std::move(onChange)] {
    std::unique_lock lock(threadMu_);
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      if (auto content = poll()) {
        try {
          onChange(*content);
        } catch (...) {
          // The callback owns its errors; the watcher keeps watching.
        }
      }
      lock.lock();
    }
  });
}

void ConfigFileWatcher::stop() {
  {
    std::lock_guard lock(threadMu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::string ConfigFileWatcher::lastError() const {
  std::lock_guard lock(mu_);
  return lastError_;
}

}  // namespace portico::controller
