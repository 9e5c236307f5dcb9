// Internal to render: what every translator (apiroute.cc now, ingress.cc later) shares.
// Reporter collects diagnostics for one object; ObjectIndex looks objects up by
// namespace/name; TableBuilder accumulates the RouteTableSpec; the json helpers read
// typed fields and report wrong types. Not part of the render API.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/render/render.h"

namespace portico::controller {

// Condition names and reasons used in diagnostics.
inline constexpr std::string_view kAccepted = "Accepted";
inline constexpr std::string_view kResolvedRefs = "ResolvedRefs";

// Diagnostics about one object. Every message reads "<field>: <text>".
class Reporter {
 public:
  Reporter(std::vector<Diagnostic>& out, ObjectRef object) : out_(out), object_(std::move(object)) {}

  // The object (or part of it) is rejected: condition Accepted False.
  void invalid(const std::string& field, std::string_view reason, std::string_view text) {
    add(field, kAccepted, reason, text);
  }
  // A reference could not be resolved: condition ResolvedRefs False.
  void unresolved(const std::string& field, std::string_view reason, std::string_view text) {
    add(field, kResolvedRefs, reason, text);
  }
  // Number of diagnostics reported so far for this object; compare before and after
  // translating a part to learn whether that part had problems.
  size_t count() const { return count_; }
  const ObjectRef& object() const { return object_; }

 private:
  void add(const std::string& field, std::string_view condition, std::string_view reason,
           std::string_view text);

  std::vector<Diagnostic>& out_;
  ObjectRef object_;
  size_t count_ = 0;
};

// Lookups over a snapshot: hash maps built from plain lists, or the maps of a StoreSnapshot
// (nothing to build). Pointers stay valid as long as the snapshot.
//
// Dependencies: while a recorder is set, every lookup (found or not) appends what it looked
// for ("Secret ns/name", "Service ns/name", "IngressClass name"; EndpointSlices count as
// their Service), so the incremental renderer knows which objects to re-render when one of
// those changes. Recording is a side channel, not part of the lookup's result.
class ObjectIndex {
 public:
  explicit ObjectIndex(const ObjectSnapshot& objects);
  explicit ObjectIndex(const StoreSnapshot& objects);

  const nlohmann::json* secret(const std::string& ns, const std::string& name) const;
  const nlohmann::json* service(const std::string& ns, const std::string& name) const;
  // EndpointSlices labelled kubernetes.io/service-name=<service> in `ns`, by slice name.
  const std::vector<const nlohmann::json*>& endpointSlices(const std::string& ns,
                                                           const std::string& service) const;
  // The cluster-scoped IngressClass `name`, or nullptr.
  const nlohmann::json* ingressClass(const std::string& name) const;
  // Every IngressClass, by name.
  const std::map<std::string, const nlohmann::json*>& ingressClasses() const {
    return ingressClasses_;
  }
  // Gateway API lookups (recorded as "GatewayClass name", "Gateway ns/name",
  // "ReferenceGrant ns" for every grant of a namespace, "Namespace name").
  const nlohmann::json* gatewayClass(const std::string& name) const;
  const nlohmann::json* gateway(const std::string& ns, const std::string& name) const;
  // The ReferenceGrants of namespace `ns`, in name order.
  std::vector<const nlohmann::json*> referenceGrants(const std::string& ns) const;
  const nlohmann::json* namespaceObject(const std::string& name) const;
  // Where lookups are recorded from now on (nullptr: nowhere). Single-threaded use only.
  void recordInto(std::vector<std::string>* dependencies) const { recorder_ = dependencies; }

 private:
  void record(const char* kind, const std::string& key) const;

  // Built once per render from plain lists; hash maps because render looks up once or twice
  // per backend (10,000 Ingresses must render well under a second). Lookups only, so the
  // iteration order of these maps never reaches the output. Unused with a StoreSnapshot.
  const StoreSnapshot* store_ = nullptr;
  std::unordered_map<std::string, const nlohmann::json*> secrets_;
  std::unordered_map<std::string, const nlohmann::json*> services_;
  std::unordered_map<std::string, std::vector<const nlohmann::json*>> slicesByService_;
  std::map<std::string, const nlohmann::json*> ingressClasses_;
  // Gateway API kinds and Namespaces from plain lists, by "namespace/name" (sorted: grants
  // of one namespace are a range).
  const nlohmann::json* lookup(Kind kind, const std::string& key) const;
  std::map<std::string, const nlohmann::json*> listed_[kKindCount];
  mutable std::vector<std::string>* recorder_ = nullptr;
};

// Which objects belong to this controller, by class. Built once per render.
//  - A class name that names an IngressClass: ours iff its spec.controller is
//    options.controllerName.
//  - A class name with no such IngressClass in the snapshot: ours iff it equals
//    options.ingressClass. Lenient on purpose: out-of-cluster tests and a controller whose
//    RBAC cannot list IngressClasses still work; in a cluster the chart installs the class.
//  - No class name (Ingress only; see ingress.h): the legacy kubernetes.io/ingress.class
//    annotation, else an IngressClass of ours annotated
//    ingressclass.kubernetes.io/is-default-class: "true".
class ClassSelector {
 public:
  ClassSelector(const ObjectIndex& index, const RenderOptions& options);

  bool isOurClass(const std::string& className) const;
  // True if an IngressClass of our controller is marked as the cluster default.
  bool weAreDefault() const { return weAreDefault_; }

 private:
  const ObjectIndex& index_;
  const RenderOptions& options_;
  bool weAreDefault_ = false;
};

// Accumulates the table. Certificates are merged by name (one per Secret, hosts in order
// of first reference); redirect hosts are sorted and de-duplicated by finish().
class TableBuilder {
 public:
  void addRoute(proxy::RouteSpec route) { table_.routes.push_back(std::move(route)); }
  void addCertificate(proxy::CertificateSpec cert);
  void addRedirectHosts(const std::vector<std::string>& hosts);
  proxy::RouteTableSpec finish() &&;

 private:
  proxy::RouteTableSpec table_;
  // Certificate name -> index in table_.certificates, and the hosts it already has, so a
  // Secret shared by thousands of objects merges in linear time.
  std::unordered_map<std::string, size_t> certificateByName_;
  std::vector<std::unordered_set<std::string>> certificateHosts_;
};

// What one object contributes to the table. Each kind's translator returns these, and
// render.cc merges them across kinds in creation order (earlier routes win ties).
struct ObjectOutput {
  std::string creationTimestamp;  // RFC 3339; empty sorts first
  std::string ns;
  std::string name;
  std::string kind;
  proxy::RouteTableSpec part;
  // The field of each route in part.routes ("spec.rules[2]"), for diagnostics render.cc
  // reports while merging (Conflict). Empty, or one entry per route.
  std::vector<std::string> routeFields;
};

// metadata.<key> as a string, or "" when absent or not a string.
std::string metadataString(const nlohmann::json& object, std::string_view key);

// An object with the keys render orders by: creation time (RFC 3339 text; missing sorts
// first), then namespace, then name.
struct OrderedObject {
  std::string created;
  std::string ns;
  std::string name;
  const nlohmann::json* object;
};
// The objects in that order. The sort is stable, so even exact duplicates come out in a
// fixed order (the translators drop repeats).
std::vector<OrderedObject> inCreationOrder(const std::vector<const nlohmann::json*>& objects);
// The order key of one object.
OrderedObject orderedObject(const nlohmann::json& object);

// The member `key` of `object`, or nullptr when absent or null.
const nlohmann::json* member(const nlohmann::json& object, std::string_view key);

// Reports UnknownField for every member of `object` not in `known`; false if any.
bool checkKnownFields(const nlohmann::json& object, const std::string& field,
                      std::initializer_list<std::string_view> known, Reporter& reporter);
bool checkKnownFields(const nlohmann::json& object, const std::string& field,
                      const std::vector<std::string>& known, Reporter& reporter);

// Typed reads of object[key]. Absent (or null) gives nullopt without a diagnostic unless
// `required`; a value of the wrong type gives nullopt and an InvalidField diagnostic.
std::optional<std::string> readString(const nlohmann::json& object, std::string_view key,
                                      const std::string& parentField, Reporter& reporter,
                                      bool required = false);
std::optional<bool> readBool(const nlohmann::json& object, std::string_view key,
                             const std::string& parentField, Reporter& reporter);
// A non-negative integer no larger than `max`.
std::optional<uint64_t> readUnsigned(const nlohmann::json& object, std::string_view key,
                                     const std::string& parentField, Reporter& reporter,
                                     uint64_t max);
// object[key] if it is an object / array; reports InvalidField if it is something else.
const nlohmann::json* readObject(const nlohmann::json& object, std::string_view key,
                                 const std::string& parentField, Reporter& reporter,
                                 bool required = false);
const nlohmann::json* readArray(const nlohmann::json& object, std::string_view key,
                                const std::string& parentField, Reporter& reporter,
                                bool required = false);

// The JSON type name used in messages ("string", "number", ...).
std::string jsonTypeName(const nlohmann::json& value);

}  // namespace portico::controller
