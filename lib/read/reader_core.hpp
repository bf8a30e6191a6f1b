// The state of one reader: a cursor (segment mapping, offset, next LSN) over either a wal's
// segment registry or a log directory read from outside (another process's log).
//
// The cursor. `cur_.expected` is the LSN of the next record to return. When `cur_.map` is set, the
// record is looked for at `cur_.offset` of that mapping; otherwise the segment holding
// `cur_.expected` is located first (by base LSN, O(log segments)) and, unless the LSN is the
// segment's first, the offset is found by walking record headers from the nearest LSN sample
// of the segment (segment_slot::samples) or from its start. Records are decoded within the
// segment's written end (wal readers) or the mapping (directory readers), and a record is
// returned only if its CRCs hold and its LSN is `cur_.expected`.
//
// Wal readers read up to a limit: the watermark of their visibility, taken from the registry
// with the truncation epoch in one snapshot, and refreshed only when the cursor reaches it
// (so that a scan costs no synchronisation per record). Directory readers have no watermark:
// their end is where no record with the expected LSN decodes, and the next segment file, when
// one appears, says whether the current one is finished (its base LSN is the next LSN).
#pragma once

#include <noriwal/reader.hpp>

#include "read/segment_registry.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

namespace noriwal::detail {

class next_op;

class reader_core {
public:
    /// A reader of a wal, positioned at the log's first record.
    reader_core(std::shared_ptr<segment_registry> registry, reader_options opts,
                boost::asio::any_io_executor ex);
    /// A reader of a log directory (no registry), positioned at its first record.
    static std::error_code open_directory(const std::filesystem::path& dir, reader_options opts,
                                          boost::asio::any_io_executor ex, std::shared_ptr<reader_core>& out);
    ~reader_core();
    reader_core(const reader_core&) = delete;
    reader_core& operator=(const reader_core&) = delete;

    std::error_code seek_start();
    std::error_code seek_end();
    std::error_code seek(lsn_t lsn);
    std::error_code seek(const position& p);
    position tell() const noexcept;

    std::optional<entry> try_next(std::error_code& ec);
    std::optional<entry> next(std::error_code& ec);
    std::optional<entry> read_at(const position& p, std::error_code& ec);

    const reader_options& options() const noexcept { return opts_; }
    const boost::asio::any_io_executor& executor() const noexcept { return ex_; }
    bool is_directory() const noexcept { return registry_ == nullptr; }

    // For async_next (reader.cpp).
    /// Registers `w` to be woken when the registry changes after the last try_next that
    /// returned end_of_log; false if it already has (try again now). Wal readers only.
    bool add_waiter(const std::shared_ptr<tail_waiter>& w);
    bool remove_waiter(const tail_waiter* w);
    std::mutex& op_mutex() noexcept { return op_mutex_; }
    std::weak_ptr<next_op> pending;  // the outstanding async_next (under op_mutex_)

private:
    struct value_buffer {
        std::vector<std::byte> bytes;
        std::shared_ptr<const segment_map> map;  // the key lives in the mapping
    };
    struct dir_segment {
        std::uint64_t id = 0;
        lsn_t base_lsn = 0;  // 0: unknown (bad header)
    };
    /// The cursor, the same for both sources (the wal's registry, a directory). A seek that
    /// fails restores a saved copy.
    struct cursor_state {
        std::shared_ptr<const segment_map> map;
        std::uint64_t seg_id = 0;
        std::uint64_t seg_generation = 0;
        std::uint64_t seg_end = 0;  // bytes of map that may hold records
        bool seg_sealed = false;
        lsn_t seg_next_base = 0;
        std::uint64_t offset = 0;
        bool offset_known = false;  // offset is where expected starts in segment seg_id
        lsn_t expected = 1;
        lsn_t last = 0;                 // the LSN before expected (the last returned, or where a seek put us)
        std::uint64_t last_offset = 0;  // of the record last returned in seg_id (0: none there)
        std::error_code sticky;         // truncated / not_found: until the next seek
        bool at_start = false;          // seek_start and nothing returned since: follow the log's start
    };

    reader_core(reader_options opts, boost::asio::any_io_executor ex);

    std::uint32_t decode_limit() const noexcept;
    entry make_entry(const record_view& rv, const std::shared_ptr<const segment_map>& map,
                     std::uint64_t segment_id, std::uint64_t offset, std::shared_ptr<value_buffer>& buf,
                     std::error_code& ec);
    cursor_state save() const;
    void restore(cursor_state s);
    void drop_segment() noexcept;
    /// Moves the cursor past `rv`, the record expected, found at cur_.offset. False when it is to
    /// be passed over (expired, with skip_expired).
    bool pass_record(const record_view& rv, std::uint64_t now_ns) noexcept;

    // Wal readers.
    void refresh_snapshot();
    /// A truncate_after ran since the last snapshot.
    bool view_is_stale() const noexcept;
    lsn_t visible(const registry_snapshot& s) const noexcept;
    std::error_code enter_segment();
    std::error_code walk_to(std::span<const std::byte> bytes, const segment_slot& slot, lsn_t target,
                            std::uint64_t& out_offset);
    std::optional<entry> try_next_wal(std::error_code& ec);
    /// try_next_wal's one attempt, on the snapshot it starts with (refreshed as it goes).
    std::optional<entry> try_next_in_view(std::error_code& ec);
    std::error_code seek_wal(lsn_t lsn);
    /// Moves the cursor before the log's first record (seek_start) or after its last
    /// (seek_end, `to_end`), as the registry reports them now.
    std::error_code seek_wal_edge(bool to_end);

    // Directory readers.
    std::error_code list_directory();
    std::error_code read_segment_header(std::uint64_t id, lsn_t& base);
    std::error_code enter_segment_dir();
    std::error_code map_dir_segment(std::uint64_t id, std::shared_ptr<const segment_map>& out);
    bool probe_next_segment(dir_segment& next);
    std::error_code verify_current_file(bool& replaced);
    std::optional<entry> try_next_dir(std::error_code& ec);
    std::error_code seek_dir(lsn_t lsn, bool to_end);

    reader_options opts_;
    boost::asio::any_io_executor ex_;
    std::shared_ptr<segment_registry> registry_;  // null for a directory reader
    std::shared_ptr<file_system> fs_;
    std::filesystem::path dir_;
    std::vector<dir_segment> dir_segments_;
    std::chrono::steady_clock::time_point last_verify_{};
    unsigned calls_since_verify_ = 0;

    cursor_state cur_;

    // The wal's state as last seen.
    lsn_t limit_ = 0;    // the visible watermark
    lsn_t written_ = 0;  // the written watermark (seeks may go up to it)
    lsn_t first_ = 1;    // the first LSN the log holds
    std::uint64_t epoch_ = 0;
    std::uint64_t version_ = 0;
    bool closed_ = false;
    bool has_skipped_ = false;

    std::shared_ptr<value_buffer> buf_;     // decompressed values of try_next
    std::shared_ptr<value_buffer> at_buf_;  // ... of read_at

    std::mutex op_mutex_;
};

/// Builds entries (their fields are private to the public class).
struct entry_access {
    static void set(entry& e, const position& p, const record_view& rv, bytes_view value,
                    std::shared_ptr<const void> pin) {
        e.pos_ = p;
        e.key_ = rv.key;
        e.value_ = value;
        e.expiry_ns_ = rv.expiry_ns;
        e.tombstone_ = rv.tombstone();
        e.stored_ = rv.compression();
        e.batch_ = static_cast<batch_part>(rv.type);
        e.pin_ = std::move(pin);
    }
};

}  // namespace noriwal::detail
