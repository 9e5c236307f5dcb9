// A real redis-server child process on a free loopback port, for the tests of the Redis
// rate limiter (redis::AsyncRateLimiter). Killed in the destructor.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace portico::test {

inline constexpr const char* kRedisServerPath = "/usr/bin/redis-server";

// A loopback port nobody listens on right now.
inline uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class RedisServer {
 public:
  // `password`: started with --requirepass; run() then authenticates first.
  explicit RedisServer(std::string password = {}) : port_(freePort()), password_(std::move(password)) { start(); }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }

  // Starts (again: same port, empty data) and waits until it answers PING.
  void start() {
    using namespace std::chrono_literals;
    REQUIRE_MESSAGE(::access(kRedisServerPath, X_OK) == 0, "redis-server is required for these tests: ",
                    kRedisServerPath);
    std::vector<std::string> args = {kRedisServerPath, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--daemonize", "no",
                                     "--logfile", "/dev/null"};
    if (!password_.empty()) {
      args.push_back("--requirepass");
      args.push_back(password_);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid_, kRedisServerPath, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE_MESSAGE(rc == 0, "posix_spawn redis-server failed: ", rc);
    auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      if (ping()) return;
      std::this_thread::sleep_for(20ms);
    }
    FAIL("redis-server did not answer PING on port ", port_);
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  bool ping() const {
    redisReply* r = run({"PING"});
    bool ok = r && r->type == REDIS_REPLY_STATUS && std::string(r->str) == "PONG";
    if (r) freeReplyObject(r);
    return ok;
  }

  // One command on a fresh connection; the caller frees the reply (nullptr on failure).
  redisReply* run(const std::vector<std::string>& args) const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeval{1, 0});
    if (!c || c->err) {
      if (c) redisFree(c);
      return nullptr;
    }
    redisSetTimeout(c, timeval{1, 0});
    if (!password_.empty()) {
      redisReply* auth = command(c, {"AUTH", password_});
      bool ok = auth && auth->type == REDIS_REPLY_STATUS;
      if (auth) freeReplyObject(auth);
      if (!ok) {
        redisFree(c);
        return nullptr;
      }
    }
    redisReply* r = command(c, args);
    redisFree(c);
    return r;
  }

  long long integer(const std::vector<std::string>& args) const {
    redisReply* r = run(args);
    REQUIRE(r != nullptr);
    REQUIRE(r->type == REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
  }

 private:
  static redisReply* command(redisContext* c, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  }

  uint16_t port_;
  std::string password_;
  pid_t pid_ = -1;
};

}  // namespace portico::test
