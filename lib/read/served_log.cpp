// The engine and its readers' registry, kept in step. See served_log.hpp.
#include "read/served_log.hpp"

namespace noriwal::detail {

std::error_code served_log::open(const wal_config& cfg, const wal_config& engine_cfg,
                                 std::unique_ptr<served_log>& out, recovery_info& info, std::string& why) {
    std::unique_ptr<segment_log> log;
    auto ec = segment_log::open(engine_cfg, log, info, why);
    if (ec) return ec;
    auto registry = std::make_shared<segment_registry>(cfg, cfg.fs ? cfg.fs : posix_file_system());
    if ((ec = registry->load(*log))) {
        why = "cannot read the log in " + cfg.dir.string() + " to index it: " + ec.message();
        return ec;
    }
    // A segment that a reader has mapped is never recycled (it is unlinked instead).
    log->set_recycle_filter([r = registry.get()](std::uint64_t id) { return r->may_recycle(id); });
    out = std::make_unique<served_log>(std::move(log), std::move(registry));
    return {};
}

std::error_code served_log::append(std::span<append_request> group, std::span<std::error_code> results) {
    const auto ec = log_->append(group, results);
    registry_->on_appended(*log_, group, results);
    return ec;
}

void served_log::refresh() { registry_->refresh(*log_); }

std::error_code served_log::delete_before(const position& p, std::uint64_t& deleted) {
    auto files = registry_->lock_files();  // no reader opens a file meanwhile
    const auto ec = log_->delete_segments_before(p, deleted);
    registry_->on_segments_changed(*log_);
    return ec;
}

std::error_code served_log::apply_retention(std::uint64_t now_ns, std::uint64_t& deleted) {
    auto files = registry_->lock_files();
    const auto ec = log_->apply_retention(now_ns, deleted);
    if (deleted != 0) registry_->on_segments_changed(*log_);
    return ec;
}

std::error_code served_log::truncate_after(lsn_t lsn) {
    auto files = registry_->lock_files();
    const auto ec = log_->truncate_after(lsn);
    if (!ec) {
        registry_->on_truncated(*log_, lsn);
    } else {
        registry_->on_segments_changed(*log_);  // whatever was removed before the failure
    }
    return ec;
}

std::error_code served_log::reset_to(lsn_t next_lsn) {
    auto files = registry_->lock_files();
    const auto ec = log_->reset_to(next_lsn);
    if (!ec) {
        registry_->on_truncated(*log_, 0);  // every record is gone
    } else {
        registry_->on_segments_changed(*log_);
    }
    return ec;
}

std::error_code served_log::close() { return log_->close(); }

void served_log::end() {
    registry_->refresh(*log_);
    registry_->on_closed();
    log_.reset();
}

}  // namespace noriwal::detail
