// Wiring only: flags, logging, the table source (a file today), the proxy and the admin
// listener, and the signal that drains them. The one file not linked into tests.
#include <csignal>
#include <cstdio>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "controller/cluster_controller.h"
#include "controller/file_source/config_file.h"
#include "controller/file_source/config_file_watcher.h"
#include "controller/options.h"
#include "proxy/admin/admin_server.h"
#include "proxy/upstream/upstream_state.h"
#include "proxy/runtime/metrics.h"
#include "proxy/runtime/table_publisher.h"
#include "proxy/server/access_log.h"
#include "proxy/server/server.h"

namespace portico {
extern const char* const kVersion;
}

namespace {

using namespace portico;

void initLogging(const controller::Options& options) {
  auto logger = spdlog::stderr_color_mt("portico");
  if (options.jsonLogs)
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":%v})");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(options.logLevel));
  proxy::initAccessLog(options.jsonLogs);
}

// Log messages are pre-escaped in JSON mode so that the line stays valid JSON.
std::string msg(const std::string& text, bool json) {
  return json ? nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : text;
}

sigset_t blockTerminationSignals() {
  // Blocked in every thread (workers inherit the mask); main waits for them with sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

// Standalone mode: the file's tables, published one version after another. The watcher
// hands over a change once the file has settled; the loader refuses a version that lost
// its end marker; anything refused (unreadable, a directory, no documents, a YAML or
// render error) is logged and counted, and the last good table keeps serving.
class FileTableSource {
 public:
  FileTableSource(const controller::Options& options, proxy::TablePublisher& publisher, proxy::Metrics& metrics)
      : path_(*options.configFile),
        watcher_(path_, {.pollInterval = options.configPollInterval, .settle = options.configSettle}),
        loader_(path_, options.configRequireEndMarker),
        publisher_(publisher),
        metrics_(metrics),
        json_(options.jsonLogs) {
    renderOptions_.httpsPort = options.server.httpsPort;
    renderOptions_.tcpPorts = options.server.tcpPorts;
  }

  // The first load must succeed; its error is the process's exit message. It does not wait
  // for the file to settle: there is no older table to keep, and a start is not a race
  // with a writer (a file cut for good is what the end marker is for).
  Expected<bool> loadFirst() {
    auto text = watcher_.readNow();
    if (!text) return text.error();
    auto published = publish(*text);
    if (!published) return published.error();
    return true;
  }

  void watch() {
    watcher_.start([this](const controller::ConfigFileWatcher::Update& update) {
      auto published = update ? publish(*update) : Expected<bool>(update.error());
      metrics_.recordReload(published.has_value());
      if (!published)
        spdlog::error(msg("config reload rejected, keeping table version " +
                              std::to_string(publisher_.version()) + ":\n" + published.error().message,
                          json_));
    });
  }

 private:
  Expected<bool> publish(const std::string& text) {
    const auto started = std::chrono::steady_clock::now();
    auto spec = loader_.render(text, renderOptions_);
    if (!spec) return spec.error();
    auto table = proxy::RouteTable::build(std::move(*spec), publisher_.version() + 1, publisher_.current().get());
    if (!table) return makeError(path_ + ": " + table.error().message);
    const auto version = (*table)->version();
    const auto routes = (*table)->routes().size();
    publisher_.publish(std::move(*table));
    metrics_.setTableVersion(version);
    metrics_.recordPublishLatency(std::chrono::steady_clock::now() - started);
    spdlog::info(msg("published table version " + std::to_string(version) + " with " +
                         std::to_string(routes) + " routes from " + path_ +
                         (loader_.endMarkerRequired() ? " (end marker required from now on)" : ""),
                     json_));
    return true;
  }

  std::string path_;
  controller::ConfigFileWatcher watcher_;
  controller::ConfigFileLoader loader_;
  controller::RenderOptions renderOptions_;  // standalone is set by the loader
  proxy::TablePublisher& publisher_;
  proxy::Metrics& metrics_;
  bool json_;
};

}  // namespace

int main(int argc, char** argv) {
  auto parsed = controller::parseOptions(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "portico: %s\n", parsed.error().message.c_str());
    return 2;
  }
  controller::Options options = std::move(*parsed);
  if (options.showHelp) {
    std::cout << controller::usage();
    return 0;
  }
  if (options.showVersion) {
    std::cout << "portico " << kVersion << "\n";
    return 0;
  }
  const sigset_t signals = blockTerminationSignals();
  initLogging(options);

  proxy::TablePublisher publisher;
  proxy::Metrics metrics;
  proxy::UpstreamRegistry upstreams;
  std::unique_ptr<FileTableSource> fileSource;
  std::unique_ptr<controller::ClusterController> cluster;
  if (options.configFile) {
    fileSource = std::make_unique<FileTableSource>(options, publisher, metrics);
    if (auto first = fileSource->loadFirst(); !first) {
      std::fprintf(stderr, "portico: %s\n", first.error().message.c_str());
      return 1;
    }
  } else {
    auto config = options.kubeconfig ? controller::loadKubeconfig(*options.kubeconfig)
                                     : controller::inClusterConfig();
    if (!config) {
      std::fprintf(stderr, "portico: %s\n", config.error().message.c_str());
      return 1;
    }
    spdlog::info(msg("watching the cluster at " + config->describe(), options.jsonLogs));
    cluster = std::make_unique<controller::ClusterController>(options, *config, publisher, metrics);
  }

  proxy::ProxyServer server(options.server, publisher, metrics, upstreams);
  std::function<bool()> ready;
  if (cluster) ready = [c = cluster.get()] { return c->ready(); };
  proxy::AdminServer admin(options.server.listenAddress, options.adminPort, publisher, metrics, upstreams,
                           ready);
  try {
    server.start();
    admin.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portico: %s\n", e.what());
    return 1;
  }
  if (fileSource) fileSource->watch();
  if (cluster) cluster->start();
  spdlog::info(msg("serving http on " + options.server.listenAddress + ":" +
                       std::to_string(options.server.httpPort) + ", https on " +
                       std::to_string(options.server.httpsPort) + ", admin on " +
                       std::to_string(options.adminPort) + " with " +
                       std::to_string(options.server.workers) + " workers",
                   options.jsonLogs));

  int received = 0;
  sigwait(&signals, &received);
  spdlog::info(msg(std::string("received ") + strsignal(received) + ", draining", options.jsonLogs));
  if (cluster) cluster->stop();
  server.drainAndStop(options.shutdownGrace);
  admin.stop();
  spdlog::info(msg("stopped", options.jsonLogs));
  return 0;
}
