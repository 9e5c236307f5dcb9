// A message's header as the pipeline sees it, whatever codec read it: the start line's
// parts and the field lines, in arrival order. The HTTP/1.1 codec fills it from Beast's
// parser (http1_parser.h); an HTTP/2 codec fills it from its decoded header block.
//
// Why not Beast's basic_fields: it allocates every field line separately and keeps them in
// a case-insensitive ordered set as well as a list, about a tenth of a proxied request's
// instructions. Here the bytes of all lines share one buffer, kept inline up to its first
// kilobyte, and the lines are an array of offsets into it: a usual header costs no
// allocation at all. Lookups scan the array (a header has a dozen lines, not hundreds) and
// compare Beast's field enum, or the name when it is not a known field.
//
// Offsets rather than views: the buffer may grow while lines are added. Views returned by
// the accessors stay valid until the next add(); once a header is complete nothing adds.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/container/small_vector.hpp>

namespace portico::proxy::http1 {

class HeaderFields {
 public:
  // One field line. Spelled like Beast's, so code reads the same on either.
  struct Field {
    boost::beast::http::field id;
    std::string_view nameText;
    std::string_view valueText;
    boost::beast::http::field name() const { return id; }
    std::string_view name_string() const { return nameText; }
    std::string_view value() const { return valueText; }
  };

  using value_type = Field;

  class const_iterator {
   public:
    using value_type = Field;
    using difference_type = std::ptrdiff_t;
    const_iterator() = default;
    const_iterator(const HeaderFields* fields, size_t index) : fields_(fields), index_(index) {}
    Field operator*() const { return fields_->at(index_); }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++index_;
      return old;
    }
    bool operator==(const const_iterator& other) const { return index_ == other.index_; }

   private:
    const HeaderFields* fields_ = nullptr;
    size_t index_ = 0;
  };

  // A field line; `id` is Beast's enum for `name` (field::unknown when it has none).
  void add(boost::beast::http::field id, std::string_view name, std::string_view value);
  // The same, the enum looked up from the name (tests, configuration).
  void add(std::string_view name, std::string_view value);
  void clearFields();

  size_t size() const { return lines_.size(); }
  bool empty() const { return lines_.empty(); }
  Field at(size_t index) const;
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, lines_.size()}; }

  // The first line's value, if there is one.
  std::optional<std::string_view> get(boost::beast::http::field id) const;
  std::optional<std::string_view> get(std::string_view name) const;
  // The first line's value, or empty (as Beast's operator[]).
  std::string_view operator[](boost::beast::http::field id) const { return get(id).value_or(std::string_view()); }
  std::string_view operator[](std::string_view name) const { return get(name).value_or(std::string_view()); }
  size_t count(boost::beast::http::field id) const;
  size_t count(std::string_view name) const;
  // Calls f(value) for every line of that field, in order; f returns false to stop.
  template <class F>
  void forEach(boost::beast::http::field id, F&& f) const {
    for (size_t i = 0; i < lines_.size(); ++i)
      if (lines_[i].id == id && !f(text(lines_[i].value))) return;
  }
  template <class F>
  void forEach(std::string_view name, F&& f) const {
    for (size_t i = 0; i < lines_.size(); ++i)
      if (named(lines_[i], name) && !f(text(lines_[i].value))) return;
  }

 protected:
  struct Span {
    uint32_t offset = 0;
    uint32_t length = 0;
  };
  Span keep(std::string_view bytes);
  std::string_view text(Span span) const { return {bytes_.data() + span.offset, span.length}; }
  void clearAll();

 private:
  struct Line {
    boost::beast::http::field id;
    Span name;
    Span value;
  };
  bool named(const Line& line, std::string_view name) const;
  // Lookups by a name Beast knows compare the enum; others compare the text.
  static boost::beast::http::field idOf(std::string_view name);

  boost::container::small_vector<char, 1024> bytes_;
  boost::container::small_vector<Line, 16> lines_;
};

// A request's header: method, target, version and fields.
class RequestHead : public HeaderFields {
 public:
  void setStartLine(boost::beast::http::verb method, std::string_view methodText, std::string_view target,
                    unsigned version);
  boost::beast::http::verb method() const { return method_; }
  std::string_view method_string() const { return text(methodText_); }
  std::string_view target() const { return text(target_); }
  unsigned version() const { return version_; }
  // Keep-alive semantics of the connection (version and Connection), set by the codec.
  bool keep_alive() const { return keepAlive_; }
  void keep_alive(bool keepAlive) { keepAlive_ = keepAlive; }
  // Forget everything (a header that failed to parse is not logged).
  void clear();

 private:
  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  Span methodText_, target_;
  unsigned version_ = 11;
  bool keepAlive_ = true;
};

// A response's header: status, reason, version and fields.
class ResponseHead : public HeaderFields {
 public:
  void setStartLine(unsigned status, std::string_view reason, unsigned version);
  unsigned result_int() const { return status_; }
  std::string_view reason() const { return text(reason_); }
  unsigned version() const { return version_; }
  bool keep_alive() const { return keepAlive_; }
  void keep_alive(bool keepAlive) { keepAlive_ = keepAlive; }

 private:
  unsigned status_ = 0;
  Span reason_;
  unsigned version_ = 11;
  bool keepAlive_ = true;
};

}  // namespace portico::proxy::http1
