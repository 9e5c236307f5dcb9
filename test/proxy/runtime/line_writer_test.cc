#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proxy/server/line_writer.h"

using portico::proxy::LineWriter;
using namespace std::chrono_literals;

namespace {

// A temporary file the writer appends to; read back by path.
class TempFile {
 public:
  TempFile() : fd_(mkstemp(path_)) { REQUIRE(fd_ >= 0); }
  ~TempFile() {
    close(fd_);
    unlink(path_);
  }
  int fd() const { return fd_; }
  std::string read() const {
    std::ifstream in(path_);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
  }

 private:
  char path_[32] = "/tmp/portico-lines-XXXXXX";
  int fd_;
};

void appendLine(LineWriter& writer, const std::string& line) {
  writer.append([&](std::string& out) { out.append(line).push_back('\n'); });
}

}  // namespace

TEST_SUITE("line_writer") {
  TEST_CASE("every line from several threads is written whole, each thread's in order") {
    TempFile file;
    {
      LineWriter writer({.fd = file.fd(), .wakeBytes = 4096});
      std::vector<std::thread> threads;
      for (int t = 0; t < 3; ++t)
        threads.emplace_back([&writer, t] {
          for (int i = 0; i < 20000; ++i) appendLine(writer, "t" + std::to_string(t) + " " + std::to_string(i));
        });
      for (auto& thread : threads) thread.join();
      writer.flush();
      CHECK(writer.dropped() == 0);
    }
    std::istringstream lines(file.read());
    int next[3] = {0, 0, 0};
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count) {
      REQUIRE(line.size() >= 4);
      const int t = line[1] - '0';
      REQUIRE(line == "t" + std::to_string(t) + " " + std::to_string(next[t]));
      ++next[t];
    }
    CHECK(count == 60000);
  }

  TEST_CASE("a lone line is written by age, without a flush") {
    TempFile file;
    LineWriter writer({.fd = file.fd(), .maxAge = 20ms});
    appendLine(writer, "aged");
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (file.read().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    CHECK(file.read() == "aged\n");
  }

  TEST_CASE("the destructor writes what is still buffered") {
    TempFile file;
    {
      LineWriter writer({.fd = file.fd(), .maxAge = 10s});
      appendLine(writer, "last words");
    }
    CHECK(file.read() == "last words\n");
  }

  TEST_CASE("a stalled descriptor drops lines past the bound instead of blocking, and reports them") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    std::atomic<std::uint64_t> reported{0};
    auto writer = std::make_unique<LineWriter>(LineWriter::Options{
        .fd = fds[1], .maxPendingBytes = 8192, .wakeBytes = 1024, .maxAge = 5ms,
        .onDrops = [&](std::uint64_t n) { reported += n; }});
    // Nobody reads the pipe: once its 64 KiB fill, the writer thread blocks in write(2) and
    // this thread's buffer reaches the bound. The loop must still finish.
    const std::string line(100, 'x');
    for (int i = 0; i < 20000; ++i) appendLine(*writer, line);
    std::size_t received = 0;
    std::thread reader([&] {
      char buffer[65536];
      for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) received += static_cast<std::size_t>(n);
    });
    writer->flush();
    const std::uint64_t dropped = writer->dropped();
    writer.reset();  // the last pass reports any drops not reported yet
    close(fds[1]);
    reader.join();
    close(fds[0]);
    CHECK(dropped > 0);
    CHECK(reported == dropped);
    CHECK(received == (20000 - dropped) * 101);
  }

  TEST_CASE("a thread that moves between writers keeps its lines in each") {
    TempFile a, b;
    {
      LineWriter first({.fd = a.fd()});
      LineWriter second({.fd = b.fd()});
      appendLine(first, "1");
      appendLine(second, "2");
      appendLine(first, "3");
      first.flush();
      second.flush();
    }
    CHECK(a.read() == "1\n3\n");
    CHECK(b.read() == "2\n");
  }
}
