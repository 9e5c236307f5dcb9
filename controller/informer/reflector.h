// List+watch of one kind (in one namespace or all) into the ObjectStore, client-go style:
// paginated list, then a watch from the list's resourceVersion with bookmarks; a 410
// Gone (expired resourceVersion) relists; transport errors and 5xx back off
// (0.8 s doubling to 30 s, with jitter, reset after two healthy minutes) and retry
// forever from the last resourceVersion.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "controller/informer/object_store.h"
#include "controller/kube/kube_client.h"

namespace portico::controller {

// Where a kind lives in the API.
struct ResourcePath {
  std::string apiPrefix;  // "/api/v1" or "/apis/networking.k8s.io/v1"
  std::string plural;     // "ingresses"
  bool namespaced = true;
};
ResourcePath resourcePath(Kind kind);
// "/apis/networking.k8s.io/v1/namespaces/shop/ingresses" ("" namespace: all namespaces).
std::string collectionPath(Kind kind, const std::string& ns);

class Reflector {
 public:
  Reflector(KubeClient& client, ObjectStore& store, Kind kind, std::string ns);
  ~Reflector();  // stop()
  void start();
  void stop();

 private:
  void run();
  // Lists every page into the store; returns the list's resourceVersion.
  Expected<std::string> list();
  // Watches from `resourceVersion` (advanced by events and bookmarks). Returns true when
  // the watch asks for a relist (410), false when it ended otherwise.
  Expected<bool> watch(std::string& resourceVersion);
  void sleepFor(std::chrono::milliseconds d);

  KubeClient& client_;
  ObjectStore& store_;
  Kind kind_;
  std::string namespace_;
  std::string path_;
  std::atomic<bool> stopping_{false};
  WatchCancel cancel_;
  std::thread thread_;
};

}  // namespace portico::controller
