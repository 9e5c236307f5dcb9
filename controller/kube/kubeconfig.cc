// Reading cluster credentials: a kubeconfig file's current context, or the pod's
// service account.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "controller/kube/kube_client.h"
#include "controller/objects/base64.h"

namespace portico::controller {

namespace {

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A "-data" field (base64) or a file path field, relative to the kubeconfig's folder.
Expected<std::string> pemField(const YAML::Node& node, const std::string& dataKey, const std::string& fileKey,
                               const std::filesystem::path& base, const std::string& where) {
  if (node[dataKey]) {
    auto decoded = decodeBase64(node[dataKey].as<std::string>());
    if (!decoded) return makeError(where + "." + dataKey + ": " + decoded.error().message);
    return *decoded;
  }
  if (node[fileKey]) {
    std::filesystem::path file = node[fileKey].as<std::string>();
    if (file.is_relative()) file = base / file;
    auto text = readFile(file.string());
    if (!text) return makeError(where + "." + fileKey + ": cannot read " + file.string());
    return *text;
  }
  return std::string();
}

YAML::Node findNamed(const YAML::Node& list, const std::string& name) {
  if (list && list.IsSequence()) {
    for (const auto& item : list) {
      if (item["name"] && item["name"].as<std::string>() == name) return item;
    }
  }
  return YAML::Node();
}

}  // namespace

std::string KubeConfig::describe() const {
  std::string auth = !clientCertPem.empty() ? "client certificate"
                     : !tokenFile.empty()   ? "token file " + tokenFile
                     : !token.empty()       ? "bearer token"
                                            : "no credentials";
  std::string trust = insecureSkipTlsVerify ? "TLS verification OFF" : caPem.empty() ? "system CAs" : "cluster CA";
  return server + " (" + auth + ", " + trust + ")";
}

Expected<KubeConfig> loadKubeconfig(const std::string& path) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    const std::string contextName = root["current-context"] ? root["current-context"].as<std::string>() : "";
    if (contextName.empty()) return makeError(path + ": no current-context");
    const YAML::Node context = findNamed(root["contexts"], contextName)["context"];
    if (!context) return makeError(path + ": context \"" + contextName + "\" not found");
    const std::string clusterName = context["cluster"].as<std::string>("");
    const std::string userName = context["user"].as<std::string>("");
    const YAML::Node cluster = findNamed(root["clusters"], clusterName)["cluster"];
    if (!cluster || !cluster["server"]) return makeError(path + ": cluster \"" + clusterName + "\" has no server");
    const YAML::Node user = findNamed(root["users"], userName)["user"];
    const auto base = std::filesystem::path(path).parent_path();

    KubeConfig config;
    config.server = cluster["server"].as<std::string>();
    while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
    config.insecureSkipTlsVerify = cluster["insecure-skip-tls-verify"].as<bool>(false);
    auto ca = pemField(cluster, "certificate-authority-data", "certificate-authority", base,
                       path + ": clusters[" + clusterName + "]");
    if (!ca) return ca.error();
    config.caPem = *ca;
    if (user) {
      const std::string where = path + ": users[" + userName + "]";
      auto cert = pemField(user, "client-certificate-data", "client-certificate", base, where);
      if (!cert) return cert.error();
      auto key = pemField(user, "client-key-data", "client-key", base, where);
      if (!key) return key.error();
      config.clientCertPem = *cert;
      config.clientKeyPem = *key;
      config.token = user["token"].as<std::string>("");
      if (user["tokenFile"]) config.tokenFile = user["tokenFile"].as<std::string>();
      if (user["exec"] || user["auth-provider"])
        return makeError(where + ": exec and auth-provider credentials are not supported; use a token or a client certificate");
    }
    return config;
  } catch (const YAML::Exception& e) {
    return makeError(path + ": " + e.what());
  }
}

Expected<KubeConfig> inClusterConfig() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port)
    return makeError("not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset); pass --kubeconfig or --config");
  const std::string dir = "/var/run/secrets/kubernetes.io/serviceaccount/";
  KubeConfig config;
  const std::string h = host;
  config.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  config.tokenFile = dir + "token";
  auto ca = readFile(dir + "ca.crt");
  if (!ca) return makeError("cannot read " + dir + "ca.crt");
  config.caPem = *ca;
  if (!readFile(config.tokenFile)) return makeError("cannot read " + config.tokenFile);
  return config;
}

}  // namespace portico::controller
