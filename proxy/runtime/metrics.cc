#include "proxy/runtime/metrics.h"

#include <malloc.h>

#include <fmt/format.h>

namespace portico::proxy {

RouteStats* Metrics::routeStats(const std::string& routeName) {
  std::lock_guard lock(mu_);
  auto& slot = routes_[routeName];
  if (!slot) slot = std::make_unique<RouteStats>();
  return slot.get();
}

void Metrics::recordResponse(RouteStats* route, unsigned status, std::chrono::nanoseconds latency) {
  const unsigned cls = status / 100;
  if (route && cls >= 1 && cls <= 5) route->responsesByClass[cls].fetch_add(1, std::memory_order_relaxed);
  const double seconds = std::chrono::duration<double>(latency).count();
  size_t bucket = 0;
  while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket]) ++bucket;
  latencyBuckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  latencyCount_.fetch_add(1, std::memory_order_relaxed);
  latencySumMicros_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Metrics::recordUpstreamError(UpstreamError kind) {
  upstreamErrors_[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::recordPublishLatency(std::chrono::nanoseconds latency) {
  publishCount_.fetch_add(1, std::memory_order_relaxed);
  publishLatencySumMicros_.fetch_add(
      std::chrono::duration_cast<std::chrono::microseconds>(latency).count(), std::memory_order_relaxed);
}

namespace {
// Label values are route names ("ns/name/rule"); escape what the text format requires.
std::string escapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}
}  // namespace

std::string Metrics::render() const {
  fmt::memory_buffer out;
  auto line = [&out]<class... Args>(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  };
  line("# HELP portico_requests_total Responses sent, by route and status class.\n");
  line("# TYPE portico_requests_total counter\n");
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, stats] : routes_) {
      for (unsigned cls = 1; cls <= 5; ++cls) {
        const auto n = stats->responsesByClass[cls].load(std::memory_order_relaxed);
        if (n) line("portico_requests_total{{route=\"{}\",code=\"{}xx\"}} {}\n", escapeLabel(name), cls, n);
      }
    }
  }
  line("# HELP portico_request_duration_seconds Time from request header to response end.\n");
  line("# TYPE portico_request_duration_seconds histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    cumulative += latencyBuckets_[i].load(std::memory_order_relaxed);
    line("portico_request_duration_seconds_bucket{{le=\"{}\"}} {}\n", kLatencyBuckets[i], cumulative);
  }
  cumulative += latencyBuckets_.back().load(std::memory_order_relaxed);
  line("portico_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
  line("portico_request_duration_seconds_sum {}\n", latencySumMicros_.load(std::memory_order_relaxed) / 1e6);
  line("portico_request_duration_seconds_count {}\n", latencyCount_.load(std::memory_order_relaxed));
  line("# HELP portico_upstream_errors_total Failed upstream exchanges, by kind.\n");
  line("# TYPE portico_upstream_errors_total counter\n");
  constexpr const char* kKinds[] = {"connect_failure", "reset", "timeout"};
  for (size_t i = 0; i < upstreamErrors_.size(); ++i)
    line("portico_upstream_errors_total{{kind=\"{}\"}} {}\n", kKinds[i], upstreamErrors_[i].load(std::memory_order_relaxed));
  line("# HELP portico_active_connections Open downstream connections.\n");
  line("# TYPE portico_active_connections gauge\n");
  line("portico_active_connections {}\n", activeConnections());
  line("# HELP portico_connections_limit Most client connections open at once (--max-connections); at the limit the listeners pause.\n");
  line("# TYPE portico_connections_limit gauge\n");
  line("portico_connections_limit {}\n", connections_.limit());
  line("# HELP portico_accept_paused_total Times a listener stopped accepting for a while, by reason.\n");
  line("# TYPE portico_accept_paused_total counter\n");
  constexpr const char* kPauses[] = {"connection_limit", "out_of_files", "accept_error"};
  for (size_t i = 0; i < acceptPauses_.size(); ++i)
    line("portico_accept_paused_total{{reason=\"{}\"}} {}\n", kPauses[i], acceptPauses_[i].load(std::memory_order_relaxed));
  line("# HELP portico_listeners_paused Listeners (per worker) not accepting right now.\n");
  line("# TYPE portico_listeners_paused gauge\n");
  line("portico_listeners_paused {}\n", listenersPaused_.load(std::memory_order_relaxed));
  line("# HELP portico_accept_errors_total Failed accept() calls; out_of_files is EMFILE/ENFILE/ENOBUFS/ENOMEM.\n");
  line("# TYPE portico_accept_errors_total counter\n");
  line("portico_accept_errors_total{{reason=\"out_of_files\"}} {}\n", acceptErrorsOutOfFiles_.load(std::memory_order_relaxed));
  line("portico_accept_errors_total{{reason=\"other\"}} {}\n", acceptErrorsOther_.load(std::memory_order_relaxed));
  line("# HELP portico_stream_connections_total Layer-4 connections by outcome (proxied: a backend was reached).\n");
  line("# TYPE portico_stream_connections_total counter\n");
  constexpr const char* kStreamOutcomes[] = {"proxied",      "no_route",        "over_limit",
                                             "no_endpoint", "connect_failure", "route_removed"};
  for (size_t i = 0; i < streamOutcomes_.size(); ++i)
    line("portico_stream_connections_total{{outcome=\"{}\"}} {}\n", kStreamOutcomes[i],
         streamOutcomes_[i].load(std::memory_order_relaxed));
  line("# HELP portico_stream_bytes_total Bytes relayed on layer-4 connections, by direction.\n");
  line("# TYPE portico_stream_bytes_total counter\n");
  line("portico_stream_bytes_total{{direction=\"from_client\"}} {}\n", streamBytesFromClients_.load(std::memory_order_relaxed));
  line("portico_stream_bytes_total{{direction=\"to_client\"}} {}\n", streamBytesToClients_.load(std::memory_order_relaxed));
  line("# HELP portico_table_version Version of the live routing table.\n");
  line("# TYPE portico_table_version gauge\n");
  line("portico_table_version {}\n", tableVersion_.load(std::memory_order_relaxed));
  line("# HELP portico_config_reloads_total Configuration reloads that published a table.\n");
  line("# TYPE portico_config_reloads_total counter\n");
  line("portico_config_reloads_total {}\n", reloads_.load(std::memory_order_relaxed));
  line("# HELP portico_config_reload_errors_total Configuration reloads rejected; the last good table stayed.\n");
  line("# TYPE portico_config_reload_errors_total counter\n");
  line("portico_config_reload_errors_total {}\n", reloadErrors_.load(std::memory_order_relaxed));
  line("# HELP portico_config_publish_latency_seconds Time from a detected change to the table being live.\n");
  line("# TYPE portico_config_publish_latency_seconds summary\n");
  line("portico_config_publish_latency_seconds_sum {}\n", publishLatencySumMicros_.load(std::memory_order_relaxed) / 1e6);
  line("portico_config_publish_latency_seconds_count {}\n", publishCount_.load(std::memory_order_relaxed));
  // From the allocator, so that RSS can be read as live data versus memory malloc keeps free
  // (fragmentation, per-thread arenas). mallinfo2 walks every arena: scrape-time cost only.
  const struct mallinfo2 heap = mallinfo2();
  line("# HELP portico_heap_allocated_bytes Bytes the process has allocated and not freed (malloc's view).\n");
  line("# TYPE portico_heap_allocated_bytes gauge\n");
  line("portico_heap_allocated_bytes {}\n", heap.uordblks + heap.hblkhd);
  line("# HELP portico_heap_free_bytes Bytes malloc holds free in its arenas, not returned to the system.\n");
  line("# TYPE portico_heap_free_bytes gauge\n");
  line("portico_heap_free_bytes {}\n", heap.fordblks);
  return fmt::to_string(out);
}

}  // namespace portico::proxy
