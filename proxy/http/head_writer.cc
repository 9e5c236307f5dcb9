#include "proxy/http/head_writer.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

#include <charconv>

namespace portico::proxy::http1 {
namespace {

namespace http = boost::beast::http;
using boost::beast::iequals;

bool safeValue(std::string_view value) {
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void appendField(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
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

// The fields every written header shares: the peer's that pass, Portico's own, the edits.
void appendFields(std::string& out, const Fields& peer, const FieldList& own, const std::vector<std::string_view>& strip,
                  const HeaderEdits* edits, UnderscoreHeaders underscores) {
  static const HeaderEdits kNoEdits;
  const HeaderEdits& e = edits ? *edits : kNoEdits;
  const std::vector<std::string_view> nominated = connectionOptions(peer);
  for (const auto& field : peer) {
    if (isHopOrFraming(field)) continue;
    const std::string_view name = field.name_string();
    if (underscores == UnderscoreHeaders::Drop && name.find('_') != std::string_view::npos) continue;
    if (containsName(nominated, name) || containsName(strip, name) || containsName(own, name) || containsName(e.remove, name) ||
        containsName(e.set, name))
      continue;
    appendField(out, name, field.value());
  }
  for (const auto& [name, value] : own)
    if (!isHopOrFramingName(name) && safeValue(value) && !containsName(e.remove, name) && !containsName(e.set, name))
      appendField(out, name, value);
  for (const auto& [name, value] : e.set)
    if (!isHopOrFramingName(name) && safeValue(value)) appendField(out, name, value);
  for (const auto& [name, value] : e.add)
    if (!isHopOrFramingName(name) && safeValue(value)) appendField(out, name, value);
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
