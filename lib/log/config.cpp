// validate(): every field of wal_config checked, one line naming the first one out of range.
#include <noriwal/config.hpp>
#include <noriwal/detail/format.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace noriwal {
namespace {

std::string out_of_range(std::string_view field, const std::string& value, std::string_view allowed) {
    std::string s = "wal_config::";
    s += field;
    s += " = ";
    s += value;
    s += " is out of range: allowed ";
    s += allowed;
    return s;
}

template <class Rep, class Period>
std::string ms(std::chrono::duration<Rep, Period> d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) + " us";
}

}  // namespace

std::string validate(const wal_config& cfg) {
    constexpr std::uint64_t min_segment = 4u << 10;
    constexpr std::uint64_t max_segment = 1ull << 40;
    if (cfg.dir.empty()) return "wal_config::dir is empty: give the directory of the log";
    if (cfg.first_lsn < 1 || cfg.first_lsn >= (1ull << 63))
        return out_of_range("first_lsn", std::to_string(cfg.first_lsn), "1 .. 2^63 - 1");
    if (cfg.max_segment_size < min_segment || cfg.max_segment_size > max_segment)
        return out_of_range("max_segment_size", std::to_string(cfg.max_segment_size),
                            "4096 (4 KiB) .. 1099511627776 (1 TiB)");
    if (cfg.first_segment_size != 0 &&
        (cfg.first_segment_size < min_segment || cfg.first_segment_size > max_segment))
        return out_of_range("first_segment_size", std::to_string(cfg.first_segment_size),
                            "0 (every segment max_segment_size) or 4096 (4 KiB) .. 1099511627776 (1 TiB)");
    if (cfg.max_segment_age.count() < 0)
        return out_of_range("max_segment_age", ms(cfg.max_segment_age), ">= 0 (0: no age limit)");
    // The largest record, framed, must fit in an empty segment after its header.
    // Records start at multiples of 8, so the room ends at one too.
    const std::uint64_t room = (cfg.max_segment_size - detail::segment_header_size) & ~std::uint64_t{7};
    const std::uint64_t limit =
        std::min<std::uint64_t>(room - detail::record_header_size, detail::format_max_body);
    if (cfg.max_record_size < 1 || cfg.max_record_size > limit)
        return out_of_range("max_record_size", std::to_string(cfg.max_record_size),
                            "1 .. " + std::to_string(limit) +
                                " (a record with its 32-byte header must fit in max_segment_size minus the "
                                "64-byte segment header)");
    if (cfg.fsync.policy() == fsync_policy::kind::batch &&
        (cfg.fsync.window().count() <= 0 || cfg.fsync.window() > std::chrono::seconds(10)))
        return out_of_range("fsync (batch window)", ms(cfg.fsync.window()), "> 0 and <= 10 s");
    if (cfg.fsync.policy() != fsync_policy::kind::always && cfg.fsync.policy() != fsync_policy::kind::batch &&
        cfg.fsync.policy() != fsync_policy::kind::os)
        return out_of_range("fsync", std::to_string(static_cast<int>(cfg.fsync.policy())),
                            "always, batch(w), os");
    if (static_cast<unsigned>(cfg.recovery) > static_cast<unsigned>(recovery_mode::skip_corrupted))
        return out_of_range("recovery", std::to_string(static_cast<int>(cfg.recovery)),
                            "tolerate_corrupted_tail, absolute_consistency, point_in_time, skip_corrupted");
    if (static_cast<unsigned>(cfg.prealloc) > static_cast<unsigned>(preallocation::none))
        return out_of_range("prealloc", std::to_string(static_cast<int>(cfg.prealloc)),
                            "zero_fill, fallocate, none");
    if (static_cast<unsigned>(cfg.default_compression) > static_cast<unsigned>(compression::zstd))
        return out_of_range("default_compression", std::to_string(static_cast<int>(cfg.default_compression)),
                            "none, lz4, zstd");
    if (cfg.zstd_level < 1 || cfg.zstd_level > 22)
        return out_of_range("zstd_level", std::to_string(cfg.zstd_level), "1 .. 22");
    if (cfg.retention.count() < 0) return out_of_range("retention", ms(cfg.retention), ">= 0 (0: keep all)");
    if (cfg.idle_spin.count() < 0 || cfg.idle_spin > std::chrono::seconds(1))
        return out_of_range("idle_spin", std::to_string(cfg.idle_spin.count()) + " us",
                            "0 .. 1000000 us (0: sleep at once)");
    return {};
}

std::string_view to_string(recovery_mode m) noexcept {
    switch (m) {
        case recovery_mode::tolerate_corrupted_tail:
            return "tolerate_corrupted_tail";
        case recovery_mode::absolute_consistency:
            return "absolute_consistency";
        case recovery_mode::point_in_time:
            return "point_in_time";
        case recovery_mode::skip_corrupted:
            return "skip_corrupted";
    }
    return "?";
}

}  // namespace noriwal
