// The engine and what its readers see of it, kept in step: the one owner of the segments
// (segment_log) and of the segment registry, and the only caller of the registry's protocol.
//
//   open()             engine recovery, then the registry loads its segments and key index
//   append(group)      engine append, then the registry samples and indexes what was written
//   refresh()          readers take the engine's watermarks and segments
//   delete_before, apply_retention, truncate_after, reset_to
//                      under the registry's files lock: the engine call, then the registry's
//                      segments follow (no reader opens a file meanwhile)
//   close(), end()     engine close (it syncs); then readers see the last watermarks and
//                      waiting ones complete with errc::closed
//
// The writer strand (wal_core, and test/read/engine_harness.hpp standing in for it) calls these
// and nothing of the registry's protocol itself. It publishes its own watermarks before
// refresh(): a reader never holds a record above what the wal's written_lsn() says.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/position.hpp>
#include <noriwal/recovery_info.hpp>

#include "log/segment_log.hpp"
#include "read/segment_registry.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace noriwal::detail {

class served_log {
public:
    /// Opens the engine with `engine_cfg` (the wal's config with its own meter) and loads the
    /// registry with `cfg`. On failure `why` says what went wrong.
    static std::error_code open(const wal_config& cfg, const wal_config& engine_cfg,
                                std::unique_ptr<served_log>& out, recovery_info& info, std::string& why);

    /// The engine, for what does not change the segments readers see (sync jobs, spares,
    /// rotation, the watermarks). Only until end().
    segment_log& engine() noexcept { return *log_; }
    const segment_log& engine() const noexcept { return *log_; }
    bool is_open() const noexcept { return static_cast<bool>(log_); }
    /// What readers of this log read from; outlives the engine.
    const std::shared_ptr<segment_registry>& registry() const noexcept { return registry_; }

    std::error_code append(std::span<append_request> group, std::span<std::error_code> results);
    void refresh();
    std::error_code delete_before(const position& p, std::uint64_t& deleted);
    std::error_code apply_retention(std::uint64_t now_ns, std::uint64_t& deleted);
    std::error_code truncate_after(lsn_t lsn);
    /// Removes every record; the next append gets `next_lsn`. Readers see a truncation to nothing.
    std::error_code reset_to(lsn_t next_lsn);
    /// The engine's close(): syncs what is written, releases the files and the directory lock.
    std::error_code close();
    /// After close(): readers take the last watermarks, waiting ones complete with errc::closed,
    /// and the engine is released.
    void end();

    served_log(std::unique_ptr<segment_log> log, std::shared_ptr<segment_registry> registry) noexcept
        : log_(std::move(log)), registry_(std::move(registry)) {}

private:
    std::unique_ptr<segment_log> log_;
    std::shared_ptr<segment_registry> registry_;
};

}  // namespace noriwal::detail
