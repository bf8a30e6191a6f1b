#include "json.hpp"
#include "text.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>

namespace noriwal::inspect::json {

// ------------------------------------------------------------------------ UTF-8

namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0 if it is not one (RFC 3629, table 3-7
// of the Unicode standard: the second byte's range depends on the first).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const auto in = [](unsigned c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
    const std::size_t left = s.size() - i;
    const unsigned c0 = b(0);
    if (c0 < 0x80) return 1;
    if (in(c0, 0xC2, 0xDF)) return left >= 2 && in(b(1), 0x80, 0xBF) ? 2 : 0;
    if (in(c0, 0xE0, 0xEF)) {
        if (left < 3) return 0;
        const unsigned lo = c0 == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
        const unsigned hi = c0 == 0xED ? 0x9F : 0xBF;  // no surrogates
        return in(b(1), lo, hi) && in(b(2), 0x80, 0xBF) ? 3 : 0;
    }
    if (in(c0, 0xF0, 0xF4)) {
        if (left < 4) return 0;
        const unsigned lo = c0 == 0xF0 ? 0x90 : 0x80;  // no overlong forms
        const unsigned hi = c0 == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
        return in(b(1), lo, hi) && in(b(2), 0x80, 0xBF) && in(b(3), 0x80, 0xBF) ? 4 : 0;
    }
    return 0;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

}  // namespace

bool is_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        // ASCII runs, eight bytes at a time: keys and values are mostly ASCII.
        while (s.size() - i >= 8) {
            std::uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            if ((w & 0x8080808080808080ull) != 0) break;
            i += 8;
        }
        if (i == s.size()) break;
        const std::size_t n = utf8_sequence(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

void append_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0;  // start of the bytes not yet copied
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F) continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        if (const auto esc = backslash_escape(c); !esc.empty()) {
            out += esc;
            continue;
        }
        switch (c) {
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:  // other control characters, and DEL (legal raw, but invisible in a terminal)
                out += "\\u00";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 0xF]);
        }
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

// ------------------------------------------------------------------------ base64

namespace {
constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_digit(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
}  // namespace

std::string base64_encode(bytes_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    const auto at = [&](std::size_t k) { return std::to_integer<std::uint32_t>(bytes[k]); };
    for (; bytes.size() - i >= 3; i += 3) {
        const std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
        out.push_back(b64_alphabet[(v >> 18) & 63]);
        out.push_back(b64_alphabet[(v >> 12) & 63]);
        out.push_back(b64_alphabet[(v >> 6) & 63]);
        out.push_back(b64_alphabet[v & 63]);
    }
    if (bytes.size() - i == 1) {
        const std::uint32_t v = at(i) << 16;
        out.push_back(b64_alphabet[(v >> 18) & 63]);
        out.push_back(b64_alphabet[(v >> 12) & 63]);
        out += "==";
    } else if (bytes.size() - i == 2) {
        const std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8);
        out.push_back(b64_alphabet[(v >> 18) & 63]);
        out.push_back(b64_alphabet[(v >> 12) & 63]);
        out.push_back(b64_alphabet[(v >> 6) & 63]);
        out.push_back('=');
    }
    return out;
}

bool base64_decode(std::string_view text, std::vector<std::byte>& out) {
    out.clear();
    if (text.size() % 4 != 0) return false;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        int d[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = text[i + static_cast<std::size_t>(k)];
            if (c == '=' && last && k >= 2) {
                d[k] = 0;
                ++pad;
                continue;
            }
            if (pad != 0) return false;  // data after padding
            d[k] = b64_digit(c);
            if (d[k] < 0) return false;
        }
        const std::uint32_t v = (static_cast<std::uint32_t>(d[0]) << 18) |
                                (static_cast<std::uint32_t>(d[1]) << 12) |
                                (static_cast<std::uint32_t>(d[2]) << 6) | static_cast<std::uint32_t>(d[3]);
        // Canonical form only: the bits that padding drops must be zero, so that every byte
        // string has exactly one encoding.
        if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0)) return false;
        out.push_back(static_cast<std::byte>(v >> 16));
        if (pad < 2) out.push_back(static_cast<std::byte>((v >> 8) & 0xFF));
        if (pad < 1) out.push_back(static_cast<std::byte>(v & 0xFF));
    }
    return true;
}

// ------------------------------------------------------------------------ writer

void object_writer::name(std::string_view n) {
    if (!first_) out_->push_back(',');
    first_ = false;
    append_string(*out_, n);
    out_->push_back(':');
}

object_writer& object_writer::string(std::string_view n, std::string_view utf8) {
    name(n);
    append_string(*out_, utf8);
    return *this;
}

object_writer& object_writer::number(std::string_view n, std::uint64_t v) {
    name(n);
    *out_ += std::to_string(v);
    return *this;
}

object_writer& object_writer::number(std::string_view n, std::int64_t v) {
    name(n);
    *out_ += std::to_string(v);
    return *this;
}

object_writer& object_writer::number(std::string_view n, double v) {
    name(n);
    if (v != v || v == std::numeric_limits<double>::infinity() ||
        v == -std::numeric_limits<double>::infinity()) {
        *out_ += "null";  // JSON has no NaN or infinity
        return *this;
    }
    char buf[32];
    const int len = std::snprintf(buf, sizeof buf, "%.6g", v);
    out_->append(buf, static_cast<std::size_t>(len));
    return *this;
}

object_writer& object_writer::boolean(std::string_view n, bool v) {
    name(n);
    *out_ += v ? "true" : "false";
    return *this;
}

object_writer& object_writer::null(std::string_view n) {
    name(n);
    *out_ += "null";
    return *this;
}

object_writer& object_writer::bytes(std::string_view n, bytes_view b) {
    const std::string_view s = as_string(b);
    if (is_utf8(s)) return string(n, s);
    std::string b64_name(n);
    b64_name += "_base64";
    return string(b64_name, base64_encode(b));
}

object_writer& object_writer::raw(std::string_view n, std::string_view json) {
    name(n);
    *out_ += json;
    return *this;
}

// ------------------------------------------------------------------------ reader

const value* value::find(std::string_view name) const noexcept {
    for (const auto& [k, v] : members)
        if (k == name) return &v;
    return nullptr;
}

std::optional<std::int64_t> value::as_int64() const noexcept {
    if (type != kind::number) return std::nullopt;
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size()) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> value::as_uint64() const noexcept {
    if (type != kind::number || text.empty() || text[0] == '-') return std::nullopt;
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size()) return std::nullopt;
    return v;
}

std::string_view value::kind_name() const noexcept {
    switch (type) {
        case kind::null:
            return "null";
        case kind::boolean:
            return "boolean";
        case kind::number:
            return "number";
        case kind::string:
            return "string";
        case kind::array:
            return "array";
        case kind::object:
            return "object";
    }
    return "?";
}

namespace {

constexpr int max_depth = 64;

class parser {
public:
    explicit parser(std::string_view s) : s_(s) {}

    bool document(value& out, std::string& error) {
        skip_ws();
        if (!parse_value(out, 0)) {
            error = error_;
            return false;
        }
        skip_ws();
        if (i_ != s_.size()) {
            fail("unexpected text after the value");
            error = error_;
            return false;
        }
        return true;
    }

private:
    bool fail(std::string msg) {
        if (error_.empty()) error_ = "column " + std::to_string(i_ + 1) + ": " + std::move(msg);
        return false;
    }
    void skip_ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word)
            return fail("invalid literal (expected " + std::string(word) + ")");
        i_ += word.size();
        return true;
    }

    bool parse_value(value& out, int depth) {
        if (i_ >= s_.size()) return fail("unexpected end of input (expected a value)");
        switch (s_[i_]) {
            case '{':
                return parse_object(out, depth + 1);
            case '[':
                return parse_array(out, depth + 1);
            case '"':
                out.type = value::kind::string;
                return parse_string(out.text);
            case 't':
                out.type = value::kind::boolean;
                out.boolean = true;
                return literal("true");
            case 'f':
                out.type = value::kind::boolean;
                out.boolean = false;
                return literal("false");
            case 'n':
                out.type = value::kind::null;
                return literal("null");
            default:
                return parse_number(out);
        }
    }

    bool parse_object(value& out, int depth) {
        if (depth > max_depth) return fail("nesting deeper than 64");
        out.type = value::kind::object;
        ++i_;  // '{'
        skip_ws();
        if (i_ < s_.size() && s_[i_] == '}') {
            ++i_;
            return true;
        }
        for (;;) {
            skip_ws();
            if (i_ >= s_.size() || s_[i_] != '"') return fail("expected a member name in double quotes");
            std::string name;
            if (!parse_string(name)) return false;
            for (const auto& m : out.members)
                if (m.first == name) return fail("duplicate member \"" + name + "\"");
            skip_ws();
            if (i_ >= s_.size() || s_[i_] != ':') return fail("expected ':' after a member name");
            ++i_;
            skip_ws();
            value v;
            if (!parse_value(v, depth)) return false;
            out.members.emplace_back(std::move(name), std::move(v));
            skip_ws();
            if (i_ < s_.size() && s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == '}') {
                ++i_;
                return true;
            }
            return fail("expected ',' or '}' in an object");
        }
    }

    bool parse_array(value& out, int depth) {
        if (depth > max_depth) return fail("nesting deeper than 64");
        out.type = value::kind::array;
        ++i_;  // '['
        skip_ws();
        if (i_ < s_.size() && s_[i_] == ']') {
            ++i_;
            return true;
        }
        for (;;) {
            skip_ws();
            value v;
            if (!parse_value(v, depth)) return false;
            out.items.push_back(std::move(v));
            skip_ws();
            if (i_ < s_.size() && s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == ']') {
                ++i_;
                return true;
            }
            return fail("expected ',' or ']' in an array");
        }
    }

    bool hex4(std::uint32_t& out) {
        if (s_.size() - i_ < 4) return fail("\\u needs four hex digits");
        out = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s_[i_++];
            out <<= 4;
            if (c >= '0' && c <= '9') {
                out |= static_cast<std::uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                out |= static_cast<std::uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                out |= static_cast<std::uint32_t>(c - 'A' + 10);
            } else {
                --i_;
                return fail("\\u needs four hex digits");
            }
        }
        return true;
    }

    bool parse_string(std::string& out) {
        ++i_;  // opening quote
        out.clear();
        for (;;) {
            const std::size_t run = i_;
            while (i_ < s_.size()) {
                const auto c = static_cast<unsigned char>(s_[i_]);
                if (c == '"' || c == '\\' || c < 0x20) break;
                if (c < 0x80) {
                    ++i_;
                    continue;
                }
                const std::size_t n = utf8_sequence(s_, i_);
                if (n == 0) return fail("invalid UTF-8 in a string");
                i_ += n;
            }
            out.append(s_.data() + run, i_ - run);
            if (i_ >= s_.size()) return fail("unterminated string");
            const char c = s_[i_];
            if (c == '"') {
                ++i_;
                return true;
            }
            if (c != '\\') return fail("control character in a string (escape it)");
            ++i_;
            if (i_ >= s_.size()) return fail("unterminated escape");
            const char e = s_[i_++];
            switch (e) {
                case '"':
                    out.push_back('"');
                    break;
                case '\\':
                    out.push_back('\\');
                    break;
                case '/':
                    out.push_back('/');
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'u': {
                    std::uint32_t cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("unpaired low surrogate \\u escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (s_.substr(i_, 2) != "\\u")
                            return fail("high surrogate \\u escape without its low half");
                        i_ += 2;
                        std::uint32_t lo = 0;
                        if (!hex4(lo)) return false;
                        if (lo < 0xDC00 || lo > 0xDFFF)
                            return fail("high surrogate \\u escape without its low half");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    --i_;
                    return fail(std::string("invalid escape \\") + e);
            }
        }
    }

    bool parse_number(value& out) {
        // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
        const std::size_t start = i_;
        const auto digit = [&] { return i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; };
        if (i_ < s_.size() && s_[i_] == '-') ++i_;
        if (!digit()) return fail("expected a value");
        if (s_[i_] == '0') {
            ++i_;
        } else {
            while (digit()) ++i_;
        }
        if (i_ < s_.size() && s_[i_] == '.') {
            ++i_;
            if (!digit()) return fail("expected a digit after the decimal point");
            while (digit()) ++i_;
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            ++i_;
            if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
            if (!digit()) return fail("expected a digit in the exponent");
            while (digit()) ++i_;
        }
        out.type = value::kind::number;
        out.text.assign(s_.data() + start, i_ - start);
        return true;
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::string error_;
};

}  // namespace

bool parse(std::string_view text, value& out, std::string& error) {
    out = value{};
    error.clear();
    return parser(text).document(out, error);
}

}  // namespace noriwal::inspect::json
