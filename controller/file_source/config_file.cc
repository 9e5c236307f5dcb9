#include "controller/file_source/config_file.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/yaml.h>

#include "controller/render/field_path.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;

int lineOfMark(const YAML::Mark& mark) { return mark.line >= 0 ? mark.line + 1 : 0; }

bool isDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// YAML 1.2 core schema resolution of a plain (unquoted) scalar.
json resolvePlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;

  std::string_view v = s;
  bool negative = false;
  std::string_view digits = v;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  auto parseUnsigned = [](std::string_view text, int base) -> std::optional<uint64_t> {
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n, base);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
    return n;
  };
  std::optional<uint64_t> magnitude;
  if (isDigits(digits)) {
    magnitude = parseUnsigned(digits, 10);
  } else if (v.starts_with("0x")) {
    magnitude = parseUnsigned(v.substr(2), 16);
  } else if (v.starts_with("0o")) {
    magnitude = parseUnsigned(v.substr(2), 8);
  }
  if (magnitude) {
    if (!negative) return *magnitude;
    if (*magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
      return static_cast<int64_t>(0 - *magnitude);
    }
  }

  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  {
    std::string_view f = digits;
    size_t i = 0;
    size_t intDigits = 0;
    while (i < f.size() && f[i] >= '0' && f[i] <= '9') ++i, ++intDigits;
    size_t fracDigits = 0;
    bool dot = false;
    if (i < f.size() && f[i] == '.') {
      dot = true;
      ++i;
      while (i < f.size() && f[i] >= '0' && f[i] <= '9') ++i, ++fracDigits;
    }
    bool mantissa = intDigits > 0 || (dot && fracDigits > 0);
    bool exponentOk = true;
    bool exponent = false;
    if (mantissa && i < f.size() && (f[i] == 'e' || f[i] == 'E')) {
      exponent = true;
      ++i;
      if (i < f.size() && (f[i] == '+' || f[i] == '-')) ++i;
      size_t expDigits = 0;
      while (i < f.size() && f[i] >= '0' && f[i] <= '9') ++i, ++expDigits;
      exponentOk = expDigits > 0;
    }
    if (mantissa && exponentOk && i == f.size() && (dot || exponent)) {
      try {
        return std::stod(s);
      } catch (const std::exception&) {
        // out of range: keep the text
      }
    }
  }
  return s;
}

struct Converter {
  const std::string& file;
  std::map<std::string, int>& lines;
  std::vector<std::string>& errors;

  json convert(const YAML::Node& node, const std::string& path) {
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar(node, path);
      case YAML::NodeType::Sequence: {
        json out = json::array();
        size_t i = 0;
        for (const auto& item : node) {
          std::string itemPath = indexField(path, i++);
          if (int line = lineOfMark(item.Mark())) lines[itemPath] = line;
          out.push_back(convert(item, itemPath));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (auto it = node.begin(); it != node.end(); ++it) {
          // Copies: it->first refers into a temporary that dies with the expression.
          const YAML::Node key = it->first;
          const YAML::Node value = it->second;
          if (!key.IsScalar()) {
            error(key.Mark(), "mapping keys must be scalars" + at(path));
            continue;
          }
          std::string name = key.Scalar();
          std::string childPath = childField(path, name);
          if (out.contains(name)) {
            error(key.Mark(), "duplicate key \"" + name + "\"" + at(path));
            continue;
          }
          if (int line = lineOfMark(key.Mark())) lines[childPath] = line;
          out[name] = convert(value, childPath);
        }
        return out;
      }
    }
    return nullptr;
  }

  json scalar(const YAML::Node& node, const std::string& path) {
    const std::string& tag = node.Tag();
    const std::string& text = node.Scalar();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;  // quoted, block or !!str
    if (tag == "?" || tag.empty()) return resolvePlainScalar(text);
    if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
        tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
      return resolvePlainScalar(text);
    }
    error(node.Mark(), "unsupported tag \"" + tag + "\"" + at(path));
    return text;
  }

  static std::string at(const std::string& path) {
    return path.empty() ? std::string() : " (in " + path + ")";
  }

  void error(const YAML::Mark& mark, const std::string& message) {
    errors.push_back(file + ":" + std::to_string(lineOfMark(mark)) + ": " + message);
  }
};

Expected<std::string> readFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return makeError(path + ": cannot read: is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return makeError(path + ": cannot read: " + std::strerror(errno));
  return content.str();
}

// Counts what converting a stream to JSON would produce, from the parser's events, without
// expanding an alias: the nodes and scalar bytes written in the file, and those that
// aliases add. Each anchor's expanded size is kept (saturating), so an alias costs O(1)
// however deep the nesting. Marks the worst alias for the error message.
class AliasExpansionCounter : public YAML::EventHandler {
 public:
  struct Size {
    uint64_t nodes = 0;
    uint64_t bytes = 0;
  };

  uint64_t ownNodes = 0;
  uint64_t ownBytes = 0;
  uint64_t aliasNodes = 0;
  uint64_t aliasBytes = 0;
  int worstAliasLine = 0;
  int selfAliasLine = 0;  // an alias inside the node its anchor names (a cycle)
  // yaml-cpp 0.7 (jbeder/yaml-cpp#1040, fixed upstream after 0.8): a token no rule consumes
  // at the top level (a stray ',') makes HandleNextDocument report an empty document at
  // the same place forever, and LoadAll loop while it fills memory. Set when a document
  // starts where the previous one started: the parser made no progress.
  std::optional<YAML::Mark> stuckAt;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (documents_ > 0 && mark.pos == lastDocumentPos_) stuckAt = mark;
    lastDocumentPos_ = mark.pos;
    ++documents_;
    anchors_.clear();
    open_.assign(1, Frame{});
  }
  void OnDocumentEnd() override { open_.clear(); }

  void OnNull(const YAML::Mark&, YAML::anchor_t anchor) override { leaf(anchor, 0); }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    leaf(anchor, value.size());
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      // yaml-cpp rejects unknown anchors itself; a known one that is not closed yet is
      // an alias inside its own anchor's node.
      if (selfAliasLine == 0) selfAliasLine = lineOfMark(mark);
      return;
    }
    aliasNodes = add(aliasNodes, it->second.nodes);
    aliasBytes = add(aliasBytes, it->second.bytes);
    if (it->second.nodes >= worstAliasNodes_) {
      worstAliasNodes_ = it->second.nodes;
      worstAliasLine = lineOfMark(mark);
    }
    addToParent(it->second);
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    Size size;
    YAML::anchor_t anchor = YAML::NullAnchor;
  };
  static constexpr uint64_t kCap = uint64_t{1} << 60;  // sums of two stay far from overflow
  static uint64_t add(uint64_t a, uint64_t b) { return std::min(a + b, kCap); }

  void addToParent(const Size& s) {
    if (open_.empty()) return;
    open_.back().size.nodes = add(open_.back().size.nodes, s.nodes);
    open_.back().size.bytes = add(open_.back().size.bytes, s.bytes);
  }
  void leaf(YAML::anchor_t anchor, uint64_t bytes) {
    ownNodes = add(ownNodes, 1);
    ownBytes = add(ownBytes, bytes);
    Size s{1, bytes};
    if (anchor != YAML::NullAnchor) anchors_[anchor] = s;
    addToParent(s);
  }
  void open(YAML::anchor_t anchor) {
    ownNodes = add(ownNodes, 1);
    open_.push_back(Frame{Size{1, 0}, anchor});
  }
  void close() {
    if (open_.size() < 2) return;  // the document's own frame stays
    Frame frame = open_.back();
    open_.pop_back();
    if (frame.anchor != YAML::NullAnchor) anchors_[frame.anchor] = frame.size;
    addToParent(frame.size);
  }

  uint64_t documents_ = 0;
  int lastDocumentPos_ = -1;
  std::map<YAML::anchor_t, Size> anchors_;  // closed anchors of the current document
  std::vector<Frame> open_;                 // [0]: the document
  uint64_t worstAliasNodes_ = 0;
};

// Refuses a stream whose aliases would multiply it (see kAliasNodeAllowance), before any
// node is built or expanded.
std::optional<Error> checkAliasExpansion(const std::string& text, const std::string& path) {
  AliasExpansionCounter counter;
  std::istringstream in(text);
  YAML::Parser parser(in);
  while (!counter.stuckAt && parser.HandleNextDocument(counter)) {
  }
  if (counter.stuckAt)  // reported like any syntax error: FILE:LINE:COL: yaml: ...
    throw YAML::ParserException(*counter.stuckAt, "unexpected character the parser cannot continue from");
  auto where = [&](int line) { return path + ":" + std::to_string(line) + ": yaml: "; };
  if (counter.selfAliasLine != 0) {
    return makeError(where(counter.selfAliasLine) + "an alias refers to the node that contains it");
  }
  const uint64_t nodeLimit = kAliasNodeAllowance + kAliasRatio * counter.ownNodes;
  if (counter.aliasNodes > nodeLimit) {
    return makeError(where(counter.worstAliasLine) + "excessive aliasing: aliases would add " +
                     std::to_string(counter.aliasNodes) + " nodes to the " + std::to_string(counter.ownNodes) +
                     " written (limit " + std::to_string(kAliasNodeAllowance) + " + " +
                     std::to_string(kAliasRatio) + " per node written)");
  }
  const uint64_t byteLimit = kAliasByteAllowance + kAliasRatio * counter.ownBytes;
  if (counter.aliasBytes > byteLimit) {
    return makeError(where(counter.worstAliasLine) + "excessive aliasing: aliases would add " +
                     std::to_string(counter.aliasBytes) + " bytes of values to the " +
                     std::to_string(counter.ownBytes) + " written (limit " + std::to_string(kAliasByteAllowance) +
                     " + " + std::to_string(kAliasRatio) + " per byte written)");
  }
  return std::nullopt;
}

Error yamlError(const YAML::Exception& e, const std::string& path) {
  if (e.mark.is_null()) return makeError(path + ": yaml: " + e.msg);
  return makeError(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                   ": yaml: " + e.msg);
}

std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += '\n';
    out += l;
  }
  return out;
}

}  // namespace

int SourceLines::lineOf(std::string_view field) const {
  std::string f(field);
  while (!f.empty()) {
    auto it = fields.find(f);
    if (it != fields.end()) return it->second;
    f = parentField(f);
  }
  return documentLine;
}

int LoadedConfig::lineOf(const ObjectRef& object, std::string_view field) const {
  auto it = lines.find(object.toString());
  return it == lines.end() ? 0 : it->second.lineOf(field);
}

Expected<LoadedConfig> loadConfigText(const std::string& text, const std::string& path) {
  std::vector<YAML::Node> documents;
  try {
    if (auto tooMany = checkAliasExpansion(text, path)) return *tooMany;
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return yamlError(e, path);
  }
  if (std::none_of(documents.begin(), documents.end(), [](const YAML::Node& d) { return !d.IsNull(); })) {
    return makeError(path + ": no documents: the file is empty or only comments; refusing it, as it "
                            "would remove every route");
  }

  LoadedConfig config;
  config.path = path;
  std::vector<std::string> errors;
  for (size_t d = 0; d < documents.size(); ++d) {
    const YAML::Node& doc = documents[d];
    if (doc.IsNull()) continue;  // an empty document, e.g. a leading or trailing ---
    int docLine = lineOfMark(doc.Mark());
    std::string where = path + ":" + std::to_string(docLine) + ": document " + std::to_string(d + 1);
    if (!doc.IsMap()) {
      errors.push_back(where + ": must be a mapping (an APIRoute or a Secret)");
      continue;
    }
    SourceLines lines;
    lines.documentLine = docLine;
    size_t errorsBefore = errors.size();
    json object = Converter{path, lines.fields, errors}.convert(doc, "");
    if (errors.size() != errorsBefore) continue;

    const json* apiVersion = object.contains("apiVersion") ? &object["apiVersion"] : nullptr;
    const json* kind = object.contains("kind") ? &object["kind"] : nullptr;
    std::string apiVersionText = apiVersion && apiVersion->is_string() ? apiVersion->get<std::string>() : "";
    std::string kindText = kind && kind->is_string() ? kind->get<std::string>() : "";
    bool isApiRoute = kindText == "APIRoute" && apiVersionText == "portico.dev/v1alpha1";
    bool isSecret = kindText == "Secret" && apiVersionText == "v1";
    if (!isApiRoute && !isSecret) {
      errors.push_back(where + ": unsupported kind \"" + kindText + "\" of apiVersion \"" +
                       apiVersionText + "\" (want portico.dev/v1alpha1 APIRoute or v1 Secret)");
      continue;
    }

    json& metadata = object["metadata"];
    if (metadata.is_null()) metadata = json::object();
    if (!metadata.is_object()) {
      errors.push_back(where + ": metadata must be a mapping");
      continue;
    }
    if (!metadata.contains("namespace") || metadata["namespace"].is_null()) {
      metadata["namespace"] = "default";
    }
    const json& name = metadata["name"];
    const json& ns = metadata["namespace"];
    if (!name.is_string() || !isDnsSubdomain(name.get<std::string>())) {
      errors.push_back(path + ":" + std::to_string(lines.lineOf("metadata.name")) + ": document " +
                       std::to_string(d + 1) +
                       ": metadata.name must be a DNS name (lower-case letters, digits, '-', '.')");
      continue;
    }
    if (!ns.is_string() || !isDnsLabel(ns.get<std::string>())) {
      errors.push_back(path + ":" + std::to_string(lines.lineOf("metadata.namespace")) +
                       ": document " + std::to_string(d + 1) +
                       ": metadata.namespace must be a DNS label (lower-case letters, digits, '-')");
      continue;
    }

    ObjectRef ref{kindText, ns.get<std::string>(), name.get<std::string>()};
    auto [it, inserted] = config.lines.emplace(ref.toString(), lines);
    if (!inserted) {
      errors.push_back(where + ": " + ref.toString() + " is already defined at line " +
                       std::to_string(it->second.documentLine));
      continue;
    }
    if (isApiRoute) {
      config.objects.apiRoutes.push_back(std::move(object));
    } else {
      config.objects.secrets.push_back(std::move(object));
    }
  }
  if (!errors.empty()) return makeError(joinLines(errors));
  return config;
}

Expected<LoadedConfig> loadConfigFile(const std::string& path) {
  auto text = readFile(path);
  if (!text) return text.error();
  return loadConfigText(*text, path);
}

Expected<proxy::RouteTableSpec> renderConfigText(const std::string& text, const std::string& path,
                                                 RenderOptions options) {
  auto config = loadConfigText(text, path);
  if (!config) return config.error();
  options.standalone = true;
  RenderResult result = render(config->objects, options);
  if (result.diagnostics.empty()) return std::move(result.table);
  std::vector<std::string> errors;
  for (const auto& d : result.diagnostics) {
    errors.push_back(path + ":" + std::to_string(config->lineOf(d.object, d.field)) + ": " +
                     d.object.toString() + " " + d.message);
  }
  return makeError(joinLines(errors));
}

Expected<proxy::RouteTableSpec> renderConfigFile(const std::string& path, RenderOptions options) {
  auto text = readFile(path);
  if (!text) return text.error();
  return renderConfigText(*text, path, std::move(options));
}

EndMarkerScan findEndMarker(std::string_view text) {
  EndMarkerScan scan;
  int line = 0;
  bool contentAfter = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++line;
    std::string_view l = trimBlanks(text.substr(start, end - start));
    if (l == kEndMarker) {
      scan.line = line;
      contentAfter = false;
    } else if (!l.empty()) {
      contentAfter = true;
    }
    start = end + 1;
  }
  if (scan.line != 0) scan.where = contentAfter ? EndMarkerScan::Where::NotLast : EndMarkerScan::Where::Last;
  return scan;
}

Expected<proxy::RouteTableSpec> ConfigFileLoader::render(const std::string& text, RenderOptions options) {
  EndMarkerScan marker = findEndMarker(text);
  if (marker.where == EndMarkerScan::Where::Last) {
    // From now on the marker is how a complete file is told from a cut one.
    requireEndMarker_ = true;
    sawEndMarker_ = true;
  }
  if (marker.where == EndMarkerScan::Where::NotLast) {
    return makeError(path_ + ":" + std::to_string(marker.line) + ": \"" + std::string(kEndMarker) +
                     "\" must be the last line of the file: it marks the file as complete");
  }
  if (marker.where == EndMarkerScan::Where::Absent && requireEndMarker_) {
    return makeError(path_ + ": does not end with the line \"" + std::string(kEndMarker) + "\" (" +
                     (sawEndMarker_ ? "an earlier version of the file did" : "--config-require-end-marker") +
                     "): it may be cut short by a write in progress or an interrupted one; refusing it");
  }
  return renderConfigText(text, path_, std::move(options));
}

}  // namespace portico::controller
