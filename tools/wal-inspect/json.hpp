// JSON as wal-inspect writes and reads it: one object per line (dump --format json, import,
// the --json reports). Exactly what the tool needs and no more:
// - writing: strings escaped so that any valid UTF-8 text survives (quotes, backslash and every
//   control character escaped; other characters written as they are), integers, booleans, null;
// - reading: RFC 8259 values (objects, arrays, strings with \uXXXX escapes including surrogate
//   pairs, numbers, true/false/null), strictly: no trailing commas, no comments, no unpaired
//   surrogates, no raw control characters in strings, no duplicate member names, nesting at
//   most 64 deep;
// - UTF-8 validation (no overlong forms, no surrogates, nothing above U+10FFFF) and base64
//   (RFC 4648, standard alphabet, padded), for bytes that are not text.
#pragma once

#include <noriwal/bytes.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace noriwal::inspect::json {

/// True if `s` is well-formed UTF-8 (RFC 3629).
bool is_utf8(std::string_view s) noexcept;

/// Appends `s` (which must be valid UTF-8) as a JSON string literal, quotes included.
void append_string(std::string& out, std::string_view s);

std::string base64_encode(bytes_view bytes);
/// Decodes standard padded base64; false (and `out` unspecified) for anything else.
bool base64_decode(std::string_view text, std::vector<std::byte>& out);

/// Builds one JSON object, member by member, into a string.
class object_writer {
public:
    explicit object_writer(std::string& out) : out_(&out) { out_->push_back('{'); }
    object_writer& string(std::string_view name, std::string_view utf8);
    object_writer& number(std::string_view name, std::uint64_t v);
    object_writer& number(std::string_view name, std::int64_t v);
    object_writer& number(std::string_view name, double v);
    object_writer& boolean(std::string_view name, bool v);
    object_writer& null(std::string_view name);
    /// Bytes as `name` (a JSON string) when they are valid UTF-8, else as `name`_base64.
    object_writer& bytes(std::string_view name, bytes_view b);
    /// A member whose value is already JSON text (a nested object or array).
    object_writer& raw(std::string_view name, std::string_view json);
    /// Closes the object.
    void end() { out_->push_back('}'); }

private:
    void name(std::string_view n);
    std::string* out_;
    bool first_ = true;
};

/// A parsed JSON value.
struct value {
    enum class kind : std::uint8_t { null, boolean, number, string, array, object };

    kind type = kind::null;
    bool boolean = false;
    std::string text;  ///< the string's content (UTF-8), or the number as written
    std::vector<value> items;
    std::vector<std::pair<std::string, value>> members;  ///< in the order written

    bool is_null() const noexcept { return type == kind::null; }
    /// The member named `name` of an object, or null if there is none.
    const value* find(std::string_view name) const noexcept;
    /// The number as an integer, if it is one that fits (no fraction, no exponent).
    std::optional<std::int64_t> as_int64() const noexcept;
    std::optional<std::uint64_t> as_uint64() const noexcept;
    /// The kind's name, for messages ("string", "number"...).
    std::string_view kind_name() const noexcept;
};

/// Parses `text`, which must hold exactly one JSON value (surrounding whitespace allowed).
/// On error returns false and sets `error` to a short message with the 1-based column.
bool parse(std::string_view text, value& out, std::string& error);

}  // namespace noriwal::inspect::json
