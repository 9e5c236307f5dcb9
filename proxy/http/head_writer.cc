#include "proxy/http/head_writer.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/container/small_vector.hpp>

#include <charconv>
#include <cstring>

namespace portico::proxy::http1 {
namespace {

namespace http = boost::beast::http;
using boost::beast::iequals;

bool safeValue(std::string_view value) {
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

// One field line, grown once and copied in (four appends cost four capacity checks).
void appendField(std::string& out, std::string_view name, std::string_view value) {
  const size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}

void appendNumber(std::string& out, uint64_t n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

// Content-Length or Transfer-Encoding: chunked; nothing for None and UntilClose.
void appendFraming(std::string& out, Framing framing, uint64_t contentLength) {
  if (framing == Framing::Length) {
    out += "Content-Length: ";
    appendNumber(out, contentLength);
    out += "\r\n";
  } else if (framing == Framing::Chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  }
}

// The lines of a header, chosen first and then written with one growth of the output.
using Lines = boost::container::small_vector<std::pair<std::string_view, std::string_view>, 32>;

void appendLines(std::string& out, const Lines& lines) {
  size_t size = 0;
  for (const auto& [name, value] : lines) size += name.size() + value.size() + 4;
  const size_t at = out.size();
  out.resize(at + size);
  char* p = out.data() + at;
  for (const auto& [name, value] : lines) {
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = ':';
    *p++ = ' ';
    std::memcpy(p, value.data(), value.size());
    p += value.size();
    *p++ = '\r';
    *p++ = '\n';
  }
}

// The fields every written header shares: the peer's that pass, Portico's own, the edits.
void appendFields(std::string& out, const Fields& peer, const FieldList& own, const NameList& strip,
                  const HeaderEdits* edits, UnderscoreHeaders underscores) {
  static const HeaderEdits kNoEdits;
  const HeaderEdits& e = edits ? *edits : kNoEdits;
  const ConnectionOptions nominated = connectionOptions(peer);
  Lines lines;
  for (const auto& field : peer) {
    if (isHopOrFraming(field)) continue;
    const std::string_view name = field.name_string();
    if (underscores == UnderscoreHeaders::Drop && name.find('_') != std::string_view::npos) continue;
    if (containsName(nominated, name) || containsName(strip, name) || containsName(own, name) || containsName(e.remove, name) ||
        containsName(e.set, name))
      continue;
    lines.emplace_back(name, field.value());
  }
  for (const auto& [name, value] : own)
    if (!isHopOrFramingName(name) && safeValue(value) && !containsName(e.remove, name) && !containsName(e.set, name))
      lines.emplace_back(name, value);
  for (const auto& [name, value] : e.set)
    if (!isHopOrFramingName(name) && safeValue(value)) lines.emplace_back(name, value);
  for (const auto& [name, value] : e.add)
    if (!isHopOrFramingName(name) && safeValue(value)) lines.emplace_back(name, value);
  appendLines(out, lines);
}

}  // namespace

void writeRequestHead(std::string& out, const Fields& client, const RequestHeadPlan& plan) {
  out.clear();
  out += plan.method;
  out += ' ';
  out += plan.target;
  out += " HTTP/1.1\r\n";
  appendField(out, "Host", plan.host);
  appendFields(out, client, plan.own, plan.strip, plan.edits, plan.underscores);
}

void endRequestHead(std::string& out, const RequestHeadPlan& plan, Framing framing, uint64_t contentLength) {
  appendFraming(out, framing, contentLength);
  if (!plan.upgrade.empty()) {
    out += "Connection: upgrade\r\n";
    appendField(out, "Upgrade", plan.upgrade);
  }
  out += "\r\n";
}

void writeResponseHead(std::string& out, const Fields& upstream, const ResponseHeadPlan& plan) {
  out.clear();
  out += "HTTP/1.1 ";
  appendNumber(out, plan.status);
  out += ' ';
  const std::string_view reason = http::obsolete_reason(http::int_to_status(plan.status));
  if (reason != "<unknown-status>") out += reason;
  out += "\r\n";
  appendFields(out, upstream, plan.own, {}, plan.edits, plan.underscores);
}

void endResponseHead(std::string& out, const ResponseHeadPlan& plan, Framing framing, uint64_t contentLength,
                     bool keepAlive) {
  if (framing == Framing::None && plan.representationLength)
    appendFraming(out, Framing::Length, *plan.representationLength);
  else
    appendFraming(out, framing, contentLength);
  if (!plan.upgrade.empty()) {
    out += "Connection: upgrade\r\n";
    appendField(out, "Upgrade", plan.upgrade);
  } else if (!keepAlive) {
    out += "Connection: close\r\n";
  } else if (plan.http10Client) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
}

}  // namespace portico::proxy::http1
