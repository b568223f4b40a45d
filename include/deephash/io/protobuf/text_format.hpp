#pragma once
// The Protocol Buffers text format (what Caffe's .prototxt files are), without the protobuf
// library: a parser into a small generic tree and a writer for it.
//
// The tree knows no schema. A message is its fields in the order written, each a name and either
// a scalar token (a number or an identifier as written, or a string with its escapes resolved)
// or a nested message. Readers that know what the fields mean interpret the tree afterwards (see
// caffe/net_message.hpp); that way comments, fields we do not use and the many spellings the
// format allows are handled once, here. The binary reader builds the same tree, so both formats
// share one interpretation.
//
// Accepted syntax: `name: value`, `name { ... }`, `name: { ... }`, `name < ... >`, lists
// `name: [a, b]` (of scalars or messages), `#` comments, optional `,` or `;` after a field,
// adjacent string literals concatenated, and C escapes in strings (\n \t \\ \" \' \ooo \xhh
// \uhhhh ...). Errors name file:line:column.

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "deephash/core/error.hpp"

namespace deephash {

// Where a field was read from, for error messages: a line and column of text, or a byte offset of
// binary data, or nothing for fields built in memory.
struct SourcePosition {
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  std::size_t line = 0;  // 1-based; 0 when not from text
  std::size_t column = 0;
  std::size_t offset = kNone;  // byte offset in binary data

  // "file:line:column", "file (byte offset N)" or "file".
  std::string describe(const std::string& source) const {
    if (line > 0) return source + ":" + std::to_string(line) + ":" + std::to_string(column);
    if (offset != kNone) return source + " (byte offset " + std::to_string(offset) + ")";
    return source;
  }
};

enum class TextValueKind { Number, Identifier, String, Message };

struct TextField;

// A message: its fields, in order. Repeated fields are simply fields that occur more than once.
struct TextMessage {
  std::vector<TextField> fields;

  // Builders, for writers. Each returns *this so that calls chain.
  TextMessage& add_number(std::string name, std::string token);
  TextMessage& add_identifier(std::string name, std::string token);
  TextMessage& add_string(std::string name, std::string value);
  TextMessage& add_message(std::string name, TextMessage message);
  TextMessage& add_integer(std::string name, long long value);
  TextMessage& add_float(std::string name, float value);
  TextMessage& add_bool(std::string name, bool value);
};

struct TextField {
  std::string name;
  TextValueKind kind = TextValueKind::Number;
  // Number and Identifier: the token as written ("0.0001", "-3", "MAX", "true");
  // String: the value, escapes resolved.
  std::string scalar;
  TextMessage message;  // Message only
  SourcePosition position;
};

// The shortest text that reads back as exactly this float (or double).
inline std::string format_float(float v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}
inline std::string format_double(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

inline TextMessage& TextMessage::add_number(std::string name, std::string token) {
  fields.push_back(TextField{std::move(name), TextValueKind::Number, std::move(token), {}, {}});
  return *this;
}
inline TextMessage& TextMessage::add_identifier(std::string name, std::string token) {
  fields.push_back(TextField{std::move(name), TextValueKind::Identifier, std::move(token), {}, {}});
  return *this;
}
inline TextMessage& TextMessage::add_string(std::string name, std::string value) {
  fields.push_back(TextField{std::move(name), TextValueKind::String, std::move(value), {}, {}});
  return *this;
}
inline TextMessage& TextMessage::add_message(std::string name, TextMessage message) {
  fields.push_back(TextField{std::move(name), TextValueKind::Message, {}, std::move(message), {}});
  return *this;
}
inline TextMessage& TextMessage::add_integer(std::string name, long long value) {
  return add_number(std::move(name), std::to_string(value));
}
inline TextMessage& TextMessage::add_float(std::string name, float value) {
  return add_number(std::move(name), format_float(value));
}
inline TextMessage& TextMessage::add_bool(std::string name, bool value) {
  return add_identifier(std::move(name), value ? "true" : "false");
}

// ---------------------------------------------------------------------------------------------
// Interpreting scalar tokens. Each throws Error("file:line:column", "<field>: <problem>").

namespace text_detail {

inline std::string quote_for_message(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 40)) {
    if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > 40) out += "...";
  return out;
}

inline std::string describe_value(const TextField& f) {
  switch (f.kind) {
    case TextValueKind::Number: return "number '" + quote_for_message(f.scalar) + "'";
    case TextValueKind::Identifier: return "identifier '" + quote_for_message(f.scalar) + "'";
    case TextValueKind::String: return "string \"" + quote_for_message(f.scalar) + "\"";
    case TextValueKind::Message: return "a message";
  }
  return "a value";
}

}  // namespace text_detail

[[noreturn]] inline void fail_at_field(const TextField& f, const std::string& source,
                                       const std::string& problem) {
  throw Error(f.position.describe(source), f.name + ": " + problem);
}

// An integer in [min, max]: decimal, 0x hexadecimal or 0-prefixed octal, as protobuf reads them.
inline std::int64_t text_to_integer(const TextField& f, const std::string& source,
                                    std::int64_t min, std::int64_t max) {
  const auto not_integer = [&] {
    fail_at_field(f, source, "expected an integer, found " + text_detail::describe_value(f));
  };
  if (f.kind != TextValueKind::Number) not_integer();
  std::string_view s = f.scalar;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  unsigned base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  if (s.empty()) not_integer();
  std::uint64_t magnitude = 0;
  bool overflow = false;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') d = unsigned(c - '0');
    else if (c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = unsigned(c - 'A' + 10);
    else d = 99;
    if (d >= base) not_integer();
    if (magnitude > (std::numeric_limits<std::uint64_t>::max() - d) / base) overflow = true;
    magnitude = magnitude * base + d;
  }
  const auto out_of_range = [&] {
    fail_at_field(f, source, f.scalar + " is out of range [" + std::to_string(min) + ", " +
                                 std::to_string(max) + "]");
  };
  constexpr std::uint64_t kMaxPositive = std::uint64_t(std::numeric_limits<std::int64_t>::max());
  if (overflow || magnitude > kMaxPositive + (negative ? 1 : 0)) out_of_range();
  const std::int64_t v = negative ? (magnitude == kMaxPositive + 1
                                         ? std::numeric_limits<std::int64_t>::min()
                                         : -std::int64_t(magnitude))
                                  : std::int64_t(magnitude);
  if (v < min || v > max) out_of_range();
  return v;
}

namespace text_detail {
template <class T>
T to_floating(const TextField& f, const std::string& source) {
  if (f.kind != TextValueKind::Number && f.kind != TextValueKind::Identifier)
    fail_at_field(f, source, "expected a number, found " + describe_value(f));
  std::string_view s = f.scalar;
  // protobuf accepts a C-style float suffix ("1.5f"); "inf" also ends in f, hence the digit test.
  if (s.size() > 1 && (s.back() == 'f' || s.back() == 'F') &&
      ((s[s.size() - 2] >= '0' && s[s.size() - 2] <= '9') || s[s.size() - 2] == '.'))
    s.remove_suffix(1);
  T v{};
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (r.ec == std::errc::result_out_of_range)
    fail_at_field(f, source, "'" + f.scalar + "' is out of range");
  if (r.ec != std::errc() || r.ptr != s.data() + s.size())
    fail_at_field(f, source, "expected a number, found " + describe_value(f));
  return v;
}
}  // namespace text_detail

inline float text_to_float(const TextField& f, const std::string& source) {
  return text_detail::to_floating<float>(f, source);
}
inline double text_to_double(const TextField& f, const std::string& source) {
  return text_detail::to_floating<double>(f, source);
}

inline bool text_to_bool(const TextField& f, const std::string& source) {
  const std::string& s = f.scalar;
  if (f.kind == TextValueKind::Identifier) {
    if (s == "true" || s == "True" || s == "t") return true;
    if (s == "false" || s == "False" || s == "f") return false;
  } else if (f.kind == TextValueKind::Number) {
    if (s == "1") return true;
    if (s == "0") return false;
  }
  fail_at_field(f, source, "expected true or false, found " + text_detail::describe_value(f));
}

inline const std::string& text_to_string(const TextField& f, const std::string& source) {
  if (f.kind != TextValueKind::String)
    fail_at_field(f, source, "expected a quoted string, found " + text_detail::describe_value(f));
  return f.scalar;
}

inline const TextMessage& text_to_message(const TextField& f, const std::string& source) {
  if (f.kind != TextValueKind::Message)
    fail_at_field(f, source, "expected a message { ... }, found " + text_detail::describe_value(f));
  return f.message;
}

// ---------------------------------------------------------------------------------------------
// Parsing.

// Nesting limit, so that hostile input cannot exhaust the stack (protobuf's default).
inline constexpr int kMaxTextNesting = 100;

class TextParser {
 public:
  TextParser(std::string_view text, std::string source)
      : text_(text), source_(std::move(source)) {}

  TextMessage parse() {
    TextMessage document;
    parse_fields(document, '\0', SourcePosition{}, 0);
    return document;
  }

 private:
  enum class TokenKind { End, Identifier, Number, String, Symbol };
  struct Token {
    TokenKind kind = TokenKind::End;
    std::string text;
    SourcePosition position;
  };

  [[noreturn]] void fail(const SourcePosition& at, const std::string& problem) const {
    throw Error(at.describe(source_), problem);
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::End: return "the end of the file";
      case TokenKind::Identifier: return "'" + text_detail::quote_for_message(t.text) + "'";
      case TokenKind::Number: return "number '" + text_detail::quote_for_message(t.text) + "'";
      case TokenKind::String: return "a string";
      case TokenKind::Symbol: return "'" + t.text + "'";
    }
    return "a token";
  }

  static bool is_symbol(const Token& t, char c) {
    return t.kind == TokenKind::Symbol && t.text[0] == c;
  }

  // Fields up to `close` ('}' or '>'), or to the end of the text when close is '\0'.
  void parse_fields(TextMessage& into, char close, const SourcePosition& opened, int depth) {
    for (;;) {
      const Token& t = peek();
      if (t.kind == TokenKind::End) {
        if (close == '\0') return;
        fail(t.position, std::string("unexpected end of file: missing '") + close +
                             "' to close the message opened at line " +
                             std::to_string(opened.line) + ", column " +
                             std::to_string(opened.column));
      }
      if (is_symbol(t, '}') || is_symbol(t, '>')) {
        if (t.text[0] != close)
          fail(t.position, close == '\0' ? "unmatched '" + t.text + "'"
                                         : std::string("expected '") + close +
                                               "' to close the message opened at line " +
                                               std::to_string(opened.line) + ", found '" +
                                               t.text + "'");
        take();
        return;
      }
      parse_field(into, depth);
    }
  }

  void parse_field(TextMessage& into, int depth) {
    const Token name = take();
    if (name.kind != TokenKind::Identifier)
      fail(name.position, "expected a field name, found " + describe(name));
    const Token& next = peek();
    if (is_symbol(next, ':')) {
      take();
      const Token& value = peek();
      if (is_symbol(value, '{') || is_symbol(value, '<'))
        parse_message_value(into, name, depth);
      else if (is_symbol(value, '['))
        parse_list(into, name, depth);
      else
        parse_scalar(into, name);
    } else if (is_symbol(next, '{') || is_symbol(next, '<')) {
      parse_message_value(into, name, depth);
    } else if (is_symbol(next, '[')) {
      parse_list(into, name, depth);
    } else {
      fail(next.position, "expected ':' or '{' after field name '" + name.text + "', found " +
                              describe(next));
    }
    const Token& separator = peek();
    if (is_symbol(separator, ',') || is_symbol(separator, ';')) take();
  }

  void parse_message_value(TextMessage& into, const Token& name, int depth) {
    const Token open = take();
    if (depth + 1 > kMaxTextNesting)
      fail(open.position, "messages nested deeper than " + std::to_string(kMaxTextNesting) +
                              " levels");
    TextField field{name.text, TextValueKind::Message, {}, {}, name.position};
    parse_fields(field.message, open.text[0] == '{' ? '}' : '>', open.position, depth + 1);
    into.fields.push_back(std::move(field));
  }

  void parse_scalar(TextMessage& into, const Token& name) {
    Token value = take();
    TextValueKind kind;
    switch (value.kind) {
      case TokenKind::Number: kind = TextValueKind::Number; break;
      case TokenKind::Identifier: kind = TextValueKind::Identifier; break;
      case TokenKind::String: kind = TextValueKind::String; break;
      default:
        fail(value.position, "expected a value for field '" + name.text + "', found " +
                                 describe(value));
    }
    into.fields.push_back(
        TextField{name.text, kind, std::move(value.text), {}, value.position});
  }

  // `name: [v1, v2, ...]`: the same as writing the field once per element.
  void parse_list(TextMessage& into, const Token& name, int depth) {
    take();  // '['
    if (is_symbol(peek(), ']')) {
      take();
      return;
    }
    for (;;) {
      const Token& element = peek();
      if (is_symbol(element, '{') || is_symbol(element, '<'))
        parse_message_value(into, name, depth);
      else
        parse_scalar(into, name);
      const Token after = take();
      if (is_symbol(after, ']')) return;
      if (!is_symbol(after, ','))
        fail(after.position, "expected ',' or ']' in the list of field '" + name.text +
                                 "', found " + describe(after));
    }
  }

  // --- lexer ---

  const Token& peek() {
    if (!has_peeked_) {
      peeked_ = lex();
      has_peeked_ = true;
    }
    return peeked_;
  }
  Token take() {
    peek();
    has_peeked_ = false;
    return std::move(peeked_);
  }

  SourcePosition here() const {
    SourcePosition p;
    p.line = line_;
    p.column = pos_ - line_start_ + 1;
    return p;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char current() const { return text_[pos_]; }
  char ahead(std::size_t n) const { return pos_ + n < text_.size() ? text_[pos_ + n] : '\0'; }

  static bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  void skip_space_and_comments() {
    while (!at_end()) {
      const char c = current();
      if (c == '\n') {
        ++pos_;
        ++line_;
        line_start_ = pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
        ++pos_;
      } else if (c == '#') {
        while (!at_end() && current() != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  Token lex() {
    skip_space_and_comments();
    Token t;
    t.position = here();
    if (at_end()) return t;
    const char c = current();
    if (is_letter(c)) {
      t.kind = TokenKind::Identifier;
      const std::size_t start = pos_;
      while (!at_end() && (is_letter(current()) || is_digit(current()))) ++pos_;
      t.text = std::string(text_.substr(start, pos_ - start));
      return t;
    }
    if (is_digit(c) || (c == '.' && is_digit(ahead(1))) ||
        (c == '-' && (is_digit(ahead(1)) || ahead(1) == '.' || is_letter(ahead(1))))) {
      // Numbers are taken whole here ("1e-5", "0x1F", "-inf", "2.5f") and checked when a reader
      // converts them, where the field's type is known.
      t.kind = TokenKind::Number;
      const std::size_t start = pos_;
      if (c == '-') ++pos_;
      const bool hex = current() == '0' && (ahead(1) == 'x' || ahead(1) == 'X');
      while (!at_end()) {
        const char d = current();
        const char prev = pos_ > start ? text_[pos_ - 1] : '\0';
        if (is_letter(d) || is_digit(d) || d == '.' ||
            ((d == '+' || d == '-') && !hex && (prev == 'e' || prev == 'E')))
          ++pos_;
        else
          break;
      }
      t.text = std::string(text_.substr(start, pos_ - start));
      return t;
    }
    if (c == '"' || c == '\'') {
      t.kind = TokenKind::String;
      // Adjacent literals form one string, as in C.
      do {
        lex_string_into(t.text);
        skip_space_and_comments();
      } while (!at_end() && (current() == '"' || current() == '\''));
      return t;
    }
    static const std::string_view symbols = "{}<>[]:,;";
    if (symbols.find(c) != std::string_view::npos) {
      t.kind = TokenKind::Symbol;
      t.text = std::string(1, c);
      ++pos_;
      return t;
    }
    fail(t.position, "unexpected character '" + text_detail::quote_for_message(std::string(1, c)) +
                         "'");
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  void lex_string_into(std::string& out) {
    const SourcePosition start = here();
    const char quote = current();
    ++pos_;
    for (;;) {
      if (at_end() || current() == '\n')
        fail(start, "unterminated string (a string cannot span lines)");
      const char c = current();
      if (c == quote) {
        ++pos_;
        return;
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      const SourcePosition escape = here();
      ++pos_;
      if (at_end()) fail(start, "unterminated string");
      const char e = current();
      ++pos_;
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '?': out += '?'; break;
        case 'x':
        case 'X': {
          int v = 0, n = 0;
          while (n < 2 && !at_end() && hex_value(current()) >= 0) {
            v = v * 16 + hex_value(current());
            ++pos_;
            ++n;
          }
          if (n == 0) fail(escape, "\\x escape without hex digits");
          out += char(v);
          break;
        }
        case 'u':
        case 'U': {
          const int digits = e == 'u' ? 4 : 8;
          std::uint32_t cp = 0;
          for (int i = 0; i < digits; ++i) {
            if (at_end() || hex_value(current()) < 0)
              fail(escape, std::string("\\") + e + " escape needs " + std::to_string(digits) +
                               " hex digits");
            cp = cp * 16 + std::uint32_t(hex_value(current()));
            ++pos_;
          }
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            fail(escape, "\\" + std::string(1, e) + " escape is not a valid code point");
          append_utf8(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            int v = e - '0', n = 1;
            while (n < 3 && !at_end() && current() >= '0' && current() <= '7') {
              v = v * 8 + (current() - '0');
              ++pos_;
              ++n;
            }
            if (v > 255) fail(escape, "octal escape larger than \\377");
            out += char(v);
          } else {
            fail(escape, "unknown escape sequence '\\" +
                             text_detail::quote_for_message(std::string(1, e)) + "'");
          }
      }
    }
  }

  std::string_view text_;
  std::string source_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t line_start_ = 0;
  Token peeked_;
  bool has_peeked_ = false;
};

// Parses a whole text-format document; `source` names it in errors.
inline TextMessage parse_text_message(std::string_view text, const std::string& source) {
  return TextParser(text, source).parse();
}

// ---------------------------------------------------------------------------------------------
// Writing.

inline std::string escape_text_string(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '"': out += "\\\""; break;
      case '\'': out += "\\'"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += '\\';
          out += char('0' + (c >> 6));
          out += char('0' + ((c >> 3) & 7));
          out += char('0' + (c & 7));
        } else {
          out += char(c);  // printable ASCII, and UTF-8 as it is
        }
    }
  }
  return out;
}

namespace text_detail {
inline void write_fields(std::string& out, const TextMessage& message, int indent) {
  for (const TextField& f : message.fields) {
    out.append(std::size_t(indent), ' ');
    out += f.name;
    switch (f.kind) {
      case TextValueKind::Message:
        out += " {\n";
        write_fields(out, f.message, indent + 2);
        out.append(std::size_t(indent), ' ');
        out += "}\n";
        break;
      case TextValueKind::String:
        out += ": \"";
        out += escape_text_string(f.scalar);
        out += "\"\n";
        break;
      default:
        out += ": ";
        out += f.scalar;
        out += '\n';
    }
  }
}
}  // namespace text_detail

// One field per line, nested messages as `name {` ... `}` indented by two spaces, as Caffe's own
// prototxt files look.
inline std::string write_text_message(const TextMessage& message) {
  std::string out;
  text_detail::write_fields(out, message, 0);
  return out;
}

}  // namespace deephash
