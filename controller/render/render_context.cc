#include "controller/render/render_context.h"

#include <algorithm>
#include <tuple>

#include "controller/render/field_path.h"

namespace portico::controller {

using nlohmann::json;

void Reporter::add(const std::string& field, std::string_view condition, std::string_view reason,
                   std::string_view text) {
  Diagnostic d;
  d.object = object_;
  d.field = field;
  d.condition = std::string(condition);
  d.reason = std::string(reason);
  d.message = field.empty() ? std::string(text) : field + ": " + std::string(text);
  out_.push_back(std::move(d));
  ++count_;
}

namespace {

std::string key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

template <class Map>
void indexByName(const std::vector<json>& objects, Map& out) {
  for (const auto& o : objects) {
    if (!o.is_object()) continue;
    // The first object wins a duplicate key; a live snapshot has none.
    out.emplace(key(metadataString(o, "namespace"), metadataString(o, "name")), &o);
  }
}

}  // namespace

ObjectIndex::ObjectIndex(const ObjectSnapshot& objects) {
  indexByName(objects.secrets, secrets_);
  indexByName(objects.services, services_);
  for (const auto& cls : objects.ingressClasses) {
    if (!cls.is_object()) continue;
    ingressClasses_.emplace(metadataString(cls, "name"), &cls);  // cluster-scoped
  }
  for (const auto& slice : objects.endpointSlices) {
    if (!slice.is_object()) continue;
    const json* meta = member(slice, "metadata");
    const json* labels = meta ? member(*meta, "labels") : nullptr;
    const json* svc = labels && labels->is_object() ? member(*labels, "kubernetes.io/service-name")
                                                    : nullptr;
    if (!svc || !svc->is_string()) continue;
    slicesByService_[key(metadataString(slice, "namespace"), svc->get<std::string>())].push_back(
        &slice);
  }
  for (auto [kind, list] : {std::pair{Kind::GatewayClass, &objects.gatewayClasses},
                            std::pair{Kind::Gateway, &objects.gateways},
                            std::pair{Kind::ReferenceGrant, &objects.referenceGrants},
                            std::pair{Kind::Namespace, &objects.namespaces}}) {
    indexByName(*list, listed_[static_cast<size_t>(kind)]);
  }
  for (auto& [k, slices] : slicesByService_) {
    std::stable_sort(slices.begin(), slices.end(), [](const json* a, const json* b) {
      return metadataString(*a, "name") < metadataString(*b, "name");
    });
  }
}

const json* ObjectIndex::lookup(Kind kind, const std::string& k) const {
  if (store_) return store_->find(kind, k);
  const auto& map = listed_[static_cast<size_t>(kind)];
  auto it = map.find(k);
  return it == map.end() ? nullptr : it->second;
}

const json* ObjectIndex::gatewayClass(const std::string& name) const {
  record("GatewayClass", name);
  return lookup(Kind::GatewayClass, key("", name));
}

const json* ObjectIndex::gateway(const std::string& ns, const std::string& name) const {
  record("Gateway", key(ns, name));
  return lookup(Kind::Gateway, key(ns, name));
}

std::vector<const json*> ObjectIndex::referenceGrants(const std::string& ns) const {
  record("ReferenceGrant", ns);
  std::vector<const json*> out;
  const std::string prefix = ns + "/";
  if (store_) {
    // Grants are few; a walk costs less than an index kept per snapshot.
    for (const auto& [k, grant] : store_->objects(Kind::ReferenceGrant)) {
      if (k.starts_with(prefix)) out.push_back(grant.get());
    }
    return out;
  }
  const auto& map = listed_[static_cast<size_t>(Kind::ReferenceGrant)];
  for (auto it = map.lower_bound(prefix); it != map.end() && it->first.starts_with(prefix); ++it)
    out.push_back(it->second);
  return out;
}

const json* ObjectIndex::namespaceObject(const std::string& name) const {
  record("Namespace", name);
  return lookup(Kind::Namespace, key("", name));
}

ObjectIndex::ObjectIndex(const StoreSnapshot& objects) : store_(&objects) {
  // IngressClasses are few and ClassSelector walks them all: keep the by-name map.
  for (const auto& [k, cls] : objects.objects(Kind::IngressClass)) {
    if (cls->is_object()) ingressClasses_.emplace(metadataString(*cls, "name"), cls.get());
  }
}

void ObjectIndex::record(const char* kind, const std::string& key) const {
  if (recorder_) recorder_->push_back(std::string(kind) + " " + key);
}

const json* ObjectIndex::secret(const std::string& ns, const std::string& name) const {
  const std::string k = key(ns, name);
  record("Secret", k);
  if (store_) return store_->find(Kind::Secret, k);
  auto it = secrets_.find(k);
  return it == secrets_.end() ? nullptr : it->second;
}

const json* ObjectIndex::service(const std::string& ns, const std::string& name) const {
  const std::string k = key(ns, name);
  record("Service", k);
  if (store_) return store_->find(Kind::Service, k);
  auto it = services_.find(k);
  return it == services_.end() ? nullptr : it->second;
}

const std::vector<const json*>& ObjectIndex::endpointSlices(const std::string& ns,
                                                            const std::string& service) const {
  static const std::vector<const json*> kNone;
  const std::string k = key(ns, service);
  record("Service", k);  // a slice change is reported as a change of its Service
  if (store_) {
    auto it = store_->slicesByService().find(k);
    return it == store_->slicesByService().end() ? kNone : it->second;
  }
  auto it = slicesByService_.find(k);
  return it == slicesByService_.end() ? kNone : it->second;
}

const json* ObjectIndex::ingressClass(const std::string& name) const {
  record("IngressClass", name);
  auto it = ingressClasses_.find(name);
  return it == ingressClasses_.end() ? nullptr : it->second;
}

namespace {

std::string ingressClassController(const json& cls) {
  const json* spec = member(cls, "spec");
  const json* controller = spec ? member(*spec, "controller") : nullptr;
  return controller && controller->is_string() ? controller->get<std::string>() : std::string();
}

}  // namespace

ClassSelector::ClassSelector(const ObjectIndex& index, const RenderOptions& options)
    : index_(index), options_(options) {
  for (const auto& [name, cls] : index.ingressClasses()) {
    if (ingressClassController(*cls) != options.controllerName) continue;
    const json* meta = member(*cls, "metadata");
    const json* annotations = meta ? member(*meta, "annotations") : nullptr;
    const json* isDefault =
        annotations ? member(*annotations, "ingressclass.kubernetes.io/is-default-class") : nullptr;
    if (isDefault && isDefault->is_string() && isDefault->get_ref<const std::string&>() == "true") {
      weAreDefault_ = true;
    }
  }
}

bool ClassSelector::isOurClass(const std::string& className) const {
  if (const json* cls = index_.ingressClass(className)) {
    return ingressClassController(*cls) == options_.controllerName;
  }
  return className == options_.ingressClass;
}

void TableBuilder::addCertificate(proxy::CertificateSpec cert) {
  // One certificate per Secret and per-host TLS settings (client auth, HSTS): hosts that
  // ask for client certificates never merge into a certificate that does not (or asks for
  // other ones), and each host keeps its own HSTS header.
  std::string key = cert.name;
  if (const auto& auth = cert.clientAuth) {
    key += '\0' + auth->caPem + '\0' + auth->crlPem;
    key += auth->mode == proxy::ClientAuthMode::Require ? 'R' : 'O';
  }
  if (!cert.hsts.empty()) key += '\1' + cert.hsts;
  if (cert.tls13Only) key += "\2tls13";
  auto [it, inserted] = certificateByName_.emplace(std::move(key), table_.certificates.size());
  if (inserted) {
    certificateHosts_.emplace_back(cert.hosts.begin(), cert.hosts.end());
    table_.certificates.push_back(std::move(cert));
    return;
  }
  auto& existing = table_.certificates[it->second];
  auto& known = certificateHosts_[it->second];
  for (auto& h : cert.hosts) {
    if (known.insert(h).second) existing.hosts.push_back(h);
  }
}

void TableBuilder::addRedirectHosts(const std::vector<std::string>& hosts) {
  table_.httpsRedirectHosts.insert(table_.httpsRedirectHosts.end(), hosts.begin(), hosts.end());
}

proxy::RouteTableSpec TableBuilder::finish() && {
  auto& hosts = table_.httpsRedirectHosts;
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  return std::move(table_);
}

const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string metadataString(const json& object, std::string_view key) {
  const json* meta = member(object, "metadata");
  if (!meta) return {};
  const json* v = member(*meta, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

namespace {
template <class Known>
bool reportUnknownFields(const json& object, const std::string& field, const Known& known,
                         Reporter& reporter) {
  bool ok = true;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    reporter.invalid(childField(field, it.key()), "UnknownField", "unknown field");
    ok = false;
  }
  return ok;
}
}  // namespace

bool checkKnownFields(const json& object, const std::string& field,
                      std::initializer_list<std::string_view> known, Reporter& reporter) {
  return reportUnknownFields(object, field, known, reporter);
}

bool checkKnownFields(const json& object, const std::string& field, const std::vector<std::string>& known,
                      Reporter& reporter) {
  return reportUnknownFields(object, field, known, reporter);
}

std::string jsonTypeName(const json& value) {
  if (value.is_number()) return "number";
  return value.type_name();
}

namespace {

void wrongType(const json& value, const std::string& field, std::string_view want,
               Reporter& reporter) {
  reporter.invalid(field, "InvalidField",
                   "must be " + std::string(want) + ", not " + jsonTypeName(value));
}

}  // namespace

std::optional<std::string> readString(const json& object, std::string_view key,
                                      const std::string& parentField, Reporter& reporter,
                                      bool required) {
  std::string field = childField(parentField, key);
  const json* v = member(object, key);
  if (!v) {
    if (required) reporter.invalid(field, "InvalidField", "required");
    return std::nullopt;
  }
  if (!v->is_string()) {
    wrongType(*v, field, "a string", reporter);
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<bool> readBool(const json& object, std::string_view key,
                             const std::string& parentField, Reporter& reporter) {
  const json* v = member(object, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    wrongType(*v, childField(parentField, key), "a boolean", reporter);
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<uint64_t> readUnsigned(const json& object, std::string_view key,
                                     const std::string& parentField, Reporter& reporter,
                                     uint64_t max) {
  std::string field = childField(parentField, key);
  const json* v = member(object, key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    uint64_t n = v->get<uint64_t>();
    if (n <= max) return n;
  } else if (v->is_number_integer()) {
    if (v->get<int64_t>() >= 0 && static_cast<uint64_t>(v->get<int64_t>()) <= max) {
      return static_cast<uint64_t>(v->get<int64_t>());
    }
  } else {
    wrongType(*v, field, "an integer", reporter);
    return std::nullopt;
  }
  reporter.invalid(field, "InvalidField", "must be an integer from 0 to " + std::to_string(max));
  return std::nullopt;
}

namespace {
// A member that must have one JSON type: null (with a diagnostic when required) if it is
// missing, null with a wrong-type diagnostic if it has another type.
const json* readTyped(const json& object, std::string_view key, const std::string& parentField,
                      Reporter& reporter, bool required, bool (json::*hasType)() const noexcept,
                      const char* typeName) {
  std::string field = childField(parentField, key);
  const json* v = member(object, key);
  if (!v) {
    if (required) reporter.invalid(field, "InvalidField", "required");
    return nullptr;
  }
  if (!(v->*hasType)()) {
    wrongType(*v, field, typeName, reporter);
    return nullptr;
  }
  return v;
}
}  // namespace

const json* readObject(const json& object, std::string_view key, const std::string& parentField,
                       Reporter& reporter, bool required) {
  return readTyped(object, key, parentField, reporter, required, &json::is_object, "an object");
}

const json* readArray(const json& object, std::string_view key, const std::string& parentField,
                      Reporter& reporter, bool required) {
  return readTyped(object, key, parentField, reporter, required, &json::is_array, "a list");
}

OrderedObject orderedObject(const json& o) {
  return {metadataString(o, "creationTimestamp"), metadataString(o, "namespace"), metadataString(o, "name"), &o};
}

std::vector<OrderedObject> inCreationOrder(const std::vector<const json*>& objects) {
  std::vector<OrderedObject> ordered;
  ordered.reserve(objects.size());
  for (const json* o : objects) ordered.push_back(orderedObject(*o));
  std::stable_sort(ordered.begin(), ordered.end(), [](const OrderedObject& a, const OrderedObject& b) {
    return std::tie(a.created, a.ns, a.name) < std::tie(b.created, b.ns, b.name);
  });
  return ordered;
}

}  // namespace portico::controller
