#include "controller/file_source/config_file_watcher.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace portico::controller {
namespace {

int64_t nanos(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

bool sameUpdate(const ConfigFileWatcher::Update& a, const ConfigFileWatcher::Update& b) {
  if (a.has_value() != b.has_value()) return false;
  return a ? *a == *b : a.error().message == b.error().message;
}

}  // namespace

ConfigFileWatcher::ConfigFileWatcher(std::string path, Options options)
    : path_(std::move(path)), options_(std::move(options)) {}

ConfigFileWatcher::~ConfigFileWatcher() { stop(); }

std::chrono::steady_clock::time_point ConfigFileWatcher::now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

ConfigFileWatcher::Update ConfigFileWatcher::observe(bool useCache) {
  auto statFile = [this](Stamp& out, mode_t& mode) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return false;
    out = Stamp{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                static_cast<int64_t>(st.st_size), nanos(st.st_mtim), nanos(st.st_ctim)};
    mode = st.st_mode;
    return true;
  };

  Stamp before;
  mode_t mode = 0;
  if (!statFile(before, mode)) {
    const int err = errno;
    stamp_.reset();
    return makeError(path_ + ": cannot read: " + std::strerror(err));
  }
  // Reading a directory fails in odd ways (or reads nothing), and reading a FIFO blocks.
  if (S_ISDIR(mode)) {
    stamp_.reset();
    return makeError(path_ + ": cannot read: is a directory, not a file");
  }
  if (!S_ISREG(mode)) {
    stamp_.reset();
    return makeError(path_ + ": cannot read: not a regular file");
  }
  if (useCache && stamp_ && *stamp_ == before) return stampContent_;

  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    stamp_.reset();
    return makeError(path_ + ": cannot read: " + std::strerror(errno));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    stamp_.reset();
    return makeError(path_ + ": cannot read: " + std::strerror(errno));
  }
  std::string content = std::move(buffer).str();

  // If the file moved while we read it, what we read may be half old, half new: do not
  // remember the stamp, so that the next poll reads it again (and, seeing other bytes,
  // starts the settle interval over).
  Stamp after;
  if (statFile(after, mode) && after == before) {
    stamp_ = before;
    stampContent_ = content;
  } else {
    stamp_.reset();
  }
  return content;
}

ConfigFileWatcher::Update ConfigFileWatcher::readNow() {
  std::lock_guard lock(mu_);
  Update seen = observe(/*useCache=*/false);
  if (seen) {
    deliveredContent_ = *seen;
    deliveredError_.clear();
    candidate_ = seen;
    candidateSince_ = now() - options_.settle;  // already settled
  }
  return seen;
}

std::optional<ConfigFileWatcher::Update> ConfigFileWatcher::poll() {
  std::unique_lock lock(mu_);
  const auto time = now();
  // Once the last thing seen has settled, an unchanged stamp means unchanged bytes. While a
  // change is settling, read every time: a write within one timestamp tick can keep the
  // stamp and still change the bytes.
  const bool settled = candidate_ && time - candidateSince_ >= options_.settle;
  Update seen = observe(/*useCache=*/settled);
  if (!candidate_ || !sameUpdate(*candidate_, seen)) {
    candidate_ = seen;
    candidateSince_ = time;
  }

  std::optional<Update> out;
  if (time - candidateSince_ >= options_.settle) {
    if (*candidate_) {
      deliveredError_.clear();
      if (deliveredContent_ != **candidate_) {
        deliveredContent_ = **candidate_;
        out = *candidate_;
      }
    } else if (deliveredError_ != candidate_->error().message) {
      deliveredError_ = candidate_->error().message;
      out = *candidate_;
    }
  }
  ++polls_;
  lock.unlock();
  polled_.notify_all();
  return out;
}

void ConfigFileWatcher::start(Callback onUpdate) {
  {
    std::lock_guard lock(threadMu_);
    if (thread_.joinable() || stopping_) return;
  }
  thread_ = std::thread([this, onUpdate = std::move(onUpdate)] {
    std::unique_lock lock(threadMu_);
    while (!wake_.wait_for(lock, options_.pollInterval, [this] { return stopping_; })) {
      lock.unlock();
      if (auto update = poll()) {
        try {
          onUpdate(*update);
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

uint64_t ConfigFileWatcher::pollCountForTest() const {
  std::lock_guard lock(mu_);
  return polls_;
}

bool ConfigFileWatcher::waitForPollsForTest(uint64_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return polled_.wait_for(lock, timeout, [&] { return polls_ >= n; });
}

}  // namespace portico::controller
