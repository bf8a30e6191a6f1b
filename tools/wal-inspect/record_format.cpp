#include "record_format.hpp"

#include "command.hpp"
#include "json.hpp"
#include "text.hpp"

namespace noriwal::inspect {

record_format parse_record_format(std::string_view s) {
    if (s == "text") return record_format::text;
    if (s == "json") return record_format::json;
    if (s == "hex") return record_format::hex;
    throw failure("--format " + std::string(s) + ": unknown format (text, json or hex)");
}

void add_print_options(po::options_description& opts) {
    opts.add_options()("format", po::value<std::string>()->default_value("text"),
                       "text (one line per record), json (one object per line), or hex (the stored bytes)")(
        "max-bytes", po::value<std::size_t>()->default_value(64),
        "text and hex: bytes of a key or value shown before it is cut (0: all)");
}

print_options print_options_from(const po::variables_map& vm) {
    print_options o;
    o.format = parse_record_format(vm["format"].as<std::string>());
    o.max_bytes = vm["max-bytes"].as<std::size_t>();
    o.now_ns = now_unix_ns();
    return o;
}

void add_key_options(po::options_description& opts, const char* what) {
    opts.add_options()("key", po::value<std::string>(), what)(
        "key-base64", po::value<std::string>(), "the key as base64, for keys that are not text");
}

std::optional<std::vector<std::byte>> key_from(const po::variables_map& vm) {
    if (vm.count("key") && vm.count("key-base64")) throw failure("give --key or --key-base64, not both");
    if (vm.count("key")) {
        const std::string& k = vm["key"].as<std::string>();
        const auto* p = reinterpret_cast<const std::byte*>(k.data());
        return std::vector<std::byte>(p, p + k.size());
    }
    if (vm.count("key-base64")) {
        std::vector<std::byte> k;
        if (!json::base64_decode(vm["key-base64"].as<std::string>(), k))
            throw failure("--key-base64: not padded standard base64");
        return k;
    }
    return std::nullopt;
}

bool record_value(const walked_record& r, std::vector<std::byte>& buf, bytes_view& value) {
    if (r.view.compression() == compression::none) {
        value = r.view.stored_value;
        return true;
    }
    if (detail::decompress_value(r.view, buf)) return false;
    value = buf;
    return true;
}

std::string_view batch_name(detail::record_type t) noexcept {
    switch (t) {
        case detail::record_type::full:
            return "single";
        case detail::record_type::first:
            return "first";
        case detail::record_type::middle:
            return "middle";
        case detail::record_type::last:
            return "last";
    }
    return "?";
}

namespace {

// Floor division: an expiry or a TTL in whole milliseconds never claims more time than there is.
std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::int64_t clamp_i64(std::uint64_t v) noexcept {
    return v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v);
}

void print_text(std::string& out, const shown_record& r, const print_options& o) {
    out += "lsn=" + std::to_string(r.pos.lsn) + " seg=" + std::to_string(r.pos.segment_id) +
           " off=" + std::to_string(r.pos.offset) + (r.tombstone ? " del " : " put ");
    out += "key=" + quoted_bytes(r.key, o.max_bytes);
    if (!r.tombstone || !r.value.empty()) {
        out += " value=" + quoted_bytes(r.value, o.max_bytes);
        out += " (" + std::to_string(r.value.size()) + " B";
        if (r.stored != compression::none)
            out += ", " + std::string(compression_name(r.stored)) + " " +
                   std::to_string(r.stored_value_size) + " B";
        out += ")";
    }
    if (r.expiry_ns != 0) {
        const std::int64_t left = clamp_i64(r.expiry_ns) - clamp_i64(o.now_ns);
        out += " expires=" + utc_time(r.expiry_ns);
        out += left <= 0 ? " (expired)" : " (in " + human_duration(std::chrono::nanoseconds(left)) + ")";
    }
    if (r.batch != detail::record_type::full) out += " batch=" + std::string(batch_name(r.batch));
    if (r.beyond_end) out += " BEYOND-END (not log content: the next open cuts it)";
    out.push_back('\n');
}

void print_json(std::string& out, const shown_record& r, const print_options& o) {
    json::object_writer w(out);
    w.number("lsn", std::uint64_t{r.pos.lsn})
        .number("segment", r.pos.segment_id)
        .number("offset", r.pos.offset)
        .bytes("key", r.key)
        .bytes("value", r.value)
        .boolean("tombstone", r.tombstone);
    if (r.expiry_ns != 0) {
        const std::int64_t left = clamp_i64(r.expiry_ns) - clamp_i64(o.now_ns);
        w.number("ttl_ms", floor_div(left, 1'000'000));
        w.number("expiry_unix_ms", static_cast<std::uint64_t>(r.expiry_ns / 1'000'000));
    } else {
        w.null("ttl_ms").null("expiry_unix_ms");
    }
    w.string("compression", compression_name(r.stored)).string("batch", batch_name(r.batch));
    if (r.beyond_end) w.boolean("beyond_recoverable_end", true);
    w.end();
    out.push_back('\n');
}

void print_hex(std::string& out, const shown_record& r, const print_options& o) {
    static constexpr char hex[] = "0123456789abcdef";
    print_options head = o;
    head.max_bytes = 32;
    print_text(out, r, head);
    // The stored bytes, with their offsets in the segment file.
    const auto frame = r.frame;
    for (std::size_t i = 0; i < frame.size(); i += 16) {
        char addr[24];
        std::snprintf(addr, sizeof addr, "  %010llx  ", static_cast<unsigned long long>(r.pos.offset + i));
        out += addr;
        std::string ascii;
        for (std::size_t k = 0; k < 16; ++k) {
            if (i + k < frame.size()) {
                const auto c = std::to_integer<unsigned char>(frame[i + k]);
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 0xF]);
                out.push_back(' ');
                ascii.push_back(c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '.');
            } else {
                out += "   ";
            }
            if (k == 7) out.push_back(' ');
        }
        out += " |" + ascii + "|\n";
    }
}

}  // namespace

shown_record shown(const walked_record& r, bytes_view value) {
    shown_record s;
    s.pos = r.pos;
    s.key = r.view.key;
    s.value = value;
    s.tombstone = r.view.tombstone();
    s.expiry_ns = r.view.expiry_ns;
    s.stored = r.view.compression();
    s.stored_value_size = r.view.stored_value.size();
    s.batch = r.view.type;
    s.frame = r.frame;
    return s;
}

void print_record(std::string& out, const shown_record& r, const print_options& opts) {
    switch (opts.format) {
        case record_format::text:
            return print_text(out, r, opts);
        case record_format::json:
            return print_json(out, r, opts);
        case record_format::hex:
            return print_hex(out, r, opts);
    }
}

// ------------------------------------------------------------------------ import

namespace {

bool bytes_member(const json::value& obj, std::string_view name, std::vector<std::byte>& out, bool& present,
                  std::string& error) {
    const json::value* text = obj.find(name);
    const std::string b64_name = std::string(name) + "_base64";
    const json::value* b64 = obj.find(b64_name);
    present = text != nullptr || b64 != nullptr;
    if (text != nullptr && b64 != nullptr) {
        error = "both \"" + std::string(name) + "\" and \"" + b64_name + "\" given; give one";
        return false;
    }
    if (text != nullptr) {
        if (text->type != json::value::kind::string) {
            error = "\"" + std::string(name) + "\" must be a string, not " + std::string(text->kind_name());
            return false;
        }
        const auto* p = reinterpret_cast<const std::byte*>(text->text.data());
        out.assign(p, p + text->text.size());
    } else if (b64 != nullptr) {
        if (b64->type != json::value::kind::string || !json::base64_decode(b64->text, out)) {
            error = "\"" + b64_name + "\" must be a string of padded standard base64";
            return false;
        }
    }
    return true;
}

bool optional_int(const json::value& obj, std::string_view name, std::optional<std::int64_t>& out,
                  std::string& error) {
    const json::value* v = obj.find(name);
    if (v == nullptr || v->is_null()) return true;
    out = v->as_int64();
    if (!out) {
        error = "\"" + std::string(name) + "\" must be an integer (or null), not " +
                (v->type == json::value::kind::number ? v->text : std::string(v->kind_name()));
        return false;
    }
    return true;
}

}  // namespace

bool parse_import_line(std::string_view line, import_record& out, std::string& error) {
    out = import_record{};
    json::value doc;
    if (!json::parse(line, doc, error)) return false;
    if (doc.type != json::value::kind::object) {
        error = "expected a JSON object, got " + std::string(doc.kind_name());
        return false;
    }
    static constexpr std::string_view known[] = {"lsn",        "segment",        "offset",       "key",
                                                 "key_base64", "value",          "value_base64", "tombstone",
                                                 "ttl_ms",     "expiry_unix_ms", "compression",  "batch"};
    for (const auto& [name, v] : doc.members) {
        bool ok = false;
        for (std::string_view k : known) ok = ok || k == name;
        if (!ok) {
            error = "unknown member \"" + name + "\"";
            return false;
        }
    }
    bool has_key = false, has_value = false;
    if (!bytes_member(doc, "key", out.key, has_key, error)) return false;
    if (!has_key) {
        error = "no \"key\" (or \"key_base64\")";
        return false;
    }
    if (!bytes_member(doc, "value", out.value, has_value, error)) return false;
    if (const json::value* t = doc.find("tombstone"); t != nullptr && !t->is_null()) {
        if (t->type != json::value::kind::boolean) {
            error = "\"tombstone\" must be true or false";
            return false;
        }
        out.tombstone = t->boolean;
    }
    if (out.tombstone && !out.value.empty()) {
        error = "a tombstone has no value (\"value\" must be empty or absent)";
        return false;
    }
    if (!optional_int(doc, "ttl_ms", out.ttl_ms, error)) return false;
    if (!optional_int(doc, "expiry_unix_ms", out.expiry_unix_ms, error)) return false;
    if (out.expiry_unix_ms && *out.expiry_unix_ms <= 0) {
        error = "\"expiry_unix_ms\" must be positive (milliseconds since the Unix epoch)";
        return false;
    }
    if (const json::value* c = doc.find("compression"); c != nullptr && !c->is_null()) {
        if (c->type == json::value::kind::string && c->text == "none") {
            out.compress = compression::none;
        } else if (c->type == json::value::kind::string && c->text == "lz4") {
            out.compress = compression::lz4;
        } else if (c->type == json::value::kind::string && c->text == "zstd") {
            out.compress = compression::zstd;
        } else {
            error = "\"compression\" must be \"none\", \"lz4\" or \"zstd\"";
            return false;
        }
    }
    if (const json::value* b = doc.find("batch"); b != nullptr && !b->is_null()) {
        if (b->type == json::value::kind::string && b->text == "single") {
            out.batch = detail::record_type::full;
        } else if (b->type == json::value::kind::string && b->text == "first") {
            out.batch = detail::record_type::first;
        } else if (b->type == json::value::kind::string && b->text == "middle") {
            out.batch = detail::record_type::middle;
        } else if (b->type == json::value::kind::string && b->text == "last") {
            out.batch = detail::record_type::last;
        } else {
            error = "\"batch\" must be \"single\", \"first\", \"middle\" or \"last\"";
            return false;
        }
    }
    return true;
}

}  // namespace noriwal::inspect
