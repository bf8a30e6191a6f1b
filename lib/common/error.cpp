#include <noriwal/error.hpp>
#include <noriwal/recovery_info.hpp>

namespace noriwal {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "noriwal"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::invalid_config:
                return "invalid configuration (see the field named in the error)";
            case errc::locked:
                return "the log directory is locked by another process or wal object";
            case errc::closed:
                return "the wal is closed";
            case errc::poisoned:
                return "an earlier write or fsync failed; reopen the wal to recover";
            case errc::io_failed:
                return "a write or fsync failed; the wal is poisoned, reopen it to recover";
            case errc::no_space:
                return "no space left on the device; acknowledged records are intact";
            case errc::record_too_large:
                return "record too large for max_record_size or one segment";
            case errc::corrupted:
                return "the log is damaged where the recovery mode does not allow repair";
            case errc::unsupported_version:
                return "a segment has an unsupported format version";
            case errc::not_found:
                return "not found";
            case errc::not_a_log:
                return "not a noriwal segment file";
            case errc::read_only:
                return "the wal was opened read-only";
            case errc::invalid_argument:
                return "invalid argument";
            case errc::truncated:
                return "the position was removed by truncate_after";
            case errc::end_of_log:
                return "end of the log";
        }
        return "unknown noriwal error";
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

std::string_view to_string(damage_kind k) noexcept {
    switch (k) {
        case damage_kind::torn_record:
            return "torn_record";
        case damage_kind::bad_checksum:
            return "bad_checksum";
        case damage_kind::bad_length:
            return "bad_length";
        case damage_kind::stale_record:
            return "stale_record";
        case damage_kind::lsn_gap:
            return "lsn_gap";
        case damage_kind::incomplete_batch:
            return "incomplete_batch";
        case damage_kind::bad_segment_header:
            return "bad_segment_header";
        case damage_kind::missing_segment:
            return "missing_segment";
        case damage_kind::unsupported_version:
            return "unsupported_version";
        case damage_kind::garbage_after_end:
            return "garbage_after_end";
        case damage_kind::truncated_file:
            return "truncated_file";
    }
    return "unknown";
}

}  // namespace noriwal
