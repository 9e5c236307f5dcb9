// Standalone mode: a YAML stream of APIRoute and Secret documents instead of a cluster.
//
//   auto table = renderConfigFile("portico.yaml");   // load + render, strict
//   if (!table) { log(table.error().message); keep the last good table; }
//
// Every error names the file and line ("portico.yaml:12: APIRoute default/orders
// spec.rules[0].backends[0].url: ..."); a file with any problem is invalid as a whole, so
// the caller keeps serving the last good table.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controller/render/render.h"
#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

// Where one object's fields are in the file.
struct SourceLines {
  int documentLine = 0;               // 1-based line where the document's mapping starts
  std::map<std::string, int> fields;  // JSON path ("spec.rules[0].name") -> 1-based line
  // The line of `field`, or of its closest recorded parent, or documentLine.
  int lineOf(std::string_view field) const;
};

struct LoadedConfig {
  std::string path;  // as given; used in messages
  ObjectSnapshot objects;  // apiRoutes and secrets, in file order
  std::map<std::string, SourceLines> lines;  // by ObjectRef::toString() ("APIRoute ns/name")
  // The line of `field` in `object`, or 0 if the object did not come from this file.
  int lineOf(const ObjectRef& object, std::string_view field) const;
};

// How far aliases (*name) may multiply a file when it is turned into JSON. An alias
// repeats its anchor's whole node, so a few hundred bytes of nested aliases can stand for
// billions of nodes ("billion laughs"). Like Kubernetes' YAML decoder (go-yaml refuses
// "excessive aliasing"), a stream is refused when aliases would add more than
// kAliasNodeAllowance + kAliasRatio x (the nodes written in the file) nodes, or more than
// kAliasByteAllowance + kAliasRatio x (the scalar bytes written) bytes of scalars. The
// count is made on the parser's events before anything is expanded.
inline constexpr uint64_t kAliasNodeAllowance = 10000;
inline constexpr uint64_t kAliasByteAllowance = 1 << 20;
inline constexpr uint64_t kAliasRatio = 10;

// Reads a YAML stream (documents separated by ---) of portico.dev/v1alpha1 APIRoute and
// v1 Secret documents into Kubernetes-shaped JSON. Plain scalars resolve like YAML 1.2's
// core schema (null, true/false, ints, floats); quoted and block scalars stay strings, so
// `port: 8080` is a number and `port: "8080"` a string. metadata.namespace defaults to
// "default". Fails on unreadable files and directories ("FILE: cannot read: ..."), YAML
// syntax errors ("FILE:LINE:COL: yaml: ..."), excessive or self-referencing aliases
// ("FILE:LINE: yaml: ..."), a stream with no documents (an empty file would remove every
// route), and, listing every one, documents of another kind, without metadata.name, with
// duplicate keys, or repeating an object ("FILE:LINE: ...").
[[nodiscard]] Expected<LoadedConfig> loadConfigFile(const std::string& path);

// The same from text already read; `path` only names it in messages.
[[nodiscard]] Expected<LoadedConfig> loadConfigText(const std::string& text, const std::string& path);

// loadConfigFile, then render with options.standalone forced on. Any diagnostic makes the
// whole file invalid: the Error lists every one, a line each, as
// "FILE:LINE: <Kind ns/name> <field>: <text>".
[[nodiscard]] Expected<proxy::RouteTableSpec> renderConfigFile(const std::string& path,
                                                               RenderOptions options = {});

// renderConfigFile for text already read (what ConfigFileWatcher hands over).
[[nodiscard]] Expected<proxy::RouteTableSpec> renderConfigText(const std::string& text,
                                                               const std::string& path,
                                                               RenderOptions options = {});

// The end marker: an optional last line that says the file is complete. A file written in
// place (truncate, then write) can be read, or left behind by a writer that died, cut
// short, and a cut can still parse: a rule that lost its auth block, or a Secret value
// that lost its tail, is a weaker policy, not an error. Writers that write in place end
// the file with this line; a file without it cannot be mistaken for a complete one once
// Portico knows the marker is used (see ConfigFileLoader). Atomic writers (an editor's
// rename, a ConfigMap's symlink swap) need no marker.
inline constexpr std::string_view kEndMarker = "# portico:end";

struct EndMarkerScan {
  enum class Where { Absent, Last, NotLast };
  Where where = Where::Absent;
  int line = 0;  // 1-based line of the last marker line; 0 if absent
};
// Finds a line that is exactly kEndMarker (surrounding blanks allowed). Last: no other
// non-blank line follows it.
EndMarkerScan findEndMarker(std::string_view text);

// One standalone file across its versions: renderConfigText plus the end-marker rule.
// Once a version of the file ended with kEndMarker (or from the start, with
// requireEndMarker), every later version must end with it, or it is refused as possibly
// cut short. A marker that is not the last line is always an error. Not thread-safe; the
// file's versions come one at a time.
class ConfigFileLoader {
 public:
  explicit ConfigFileLoader(std::string path, bool requireEndMarker = false)
      : path_(std::move(path)), requireEndMarker_(requireEndMarker) {}

  [[nodiscard]] Expected<proxy::RouteTableSpec> render(const std::string& text, RenderOptions options = {});

  bool endMarkerRequired() const { return requireEndMarker_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool requireEndMarker_;
  bool sawEndMarker_ = false;  // requireEndMarker_ came from the file, not the caller
};

}  // namespace portico::controller
