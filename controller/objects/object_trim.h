// What the controller keeps of a watched object: the store holds every Ingress, APIRoute,
// Service, EndpointSlice, Secret and IngressClass it watches for as long as it runs, so the
// fields nothing reads are dropped once, as the object comes in (ObjectStore::replace and
// ::upsert apply trimObject; the reflector also applies it to each list item as it arrives,
// so that a list of thousands of objects is never held whole). trimObject is idempotent.
//
// The rule is an allow-list, per kind. Kept:
//
// | where | kept | who reads it |
// | --- | --- | --- |
// | top level, every kind | apiVersion, kind, metadata | event recorder (involvedObject.apiVersion) |
// | metadata, every kind | name, namespace, uid, resourceVersion, generation, creationTimestamp | keys and ordering (render), status writer (observedGeneration, 409 retries), event recorder (uid, resourceVersion) |
// | metadata.annotations, Ingress | keys under `portico.dev/`, `kubernetes.io/ingress.class` | render (annotations; the legacy class annotation) |
// | metadata.annotations, IngressClass | `ingressclass.kubernetes.io/is-default-class` | render (ClassSelector) |
// | metadata.labels, EndpointSlice | `kubernetes.io/service-name` | store's slice index, render |
// | Ingress, APIRoute | spec, status (whole) | render (every spec field: unknown ones are reported), status writer (status compared before writing) |
// | IngressClass | spec (whole) | render (spec.controller) |
// | Service | spec.type, spec.ports (whole entries) | render (ExternalName check, port by number or name) |
// | EndpointSlice | addressType, ports, endpoints[].addresses, endpoints[].conditions | render (endpoints, ready/terminating, port by name) |
// | Secret | type, data, stringData | render (TLS pairs, API keys, htpasswd, JWKS) |
// | GatewayClass, Gateway, HTTPRoute | spec, status (whole) | render (gateway_api), status writer (foreign parents and conditions kept) |
// | ReferenceGrant | spec (whole) | render (cross-namespace references) |
// | Namespace | metadata.labels | render (allowedRoutes namespace selector) |
//
// Everything else goes, notably metadata.managedFields (often larger than the object),
// the `kubectl.kubernetes.io/last-applied-configuration` annotation (a second copy of the
// object as a string), other annotations and labels, ownerReferences, finalizers, Service
// status and clusterIP/selector/..., and EndpointSlice targetRef/nodeName/zone/hints. Besides
// memory, this keeps changes of those fields from causing renders (the store compares
// objects as trimmed).
//
// Reading a new field of a watched object in render, status or events means adding it here;
// test/controller/informer/object_trim_test.cc renders every golden case with and without
// trimming and requires identical tables and diagnostics.
#pragma once

#include <nlohmann/json.hpp>

#include "controller/objects/object_snapshot.h"

namespace portico::controller {

// Drops from `object` (as served by the Kubernetes API) every field the controller does not
// read, per the table above. An object that is not a JSON object is left alone.
void trimObject(Kind kind, nlohmann::json& object);

}  // namespace portico::controller
