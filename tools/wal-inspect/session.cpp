#include "session.hpp"

#include <noriwal/detail/format.hpp>

#include <ostream>

namespace noriwal::inspect {

std::filesystem::path dir_argument(const po::variables_map& vm) {
    return std::filesystem::path(vm["dir"].as<std::string>());
}

std::string describe(const walk_damage& d) {
    std::string s = "segment " + detail::segment_file_name(d.segment_id) + " offset " +
                    std::to_string(d.offset) + ": " + d.what;
    if (d.length != 0) s += ", " + std::to_string(d.length) + " bytes";
    if (d.first_lost != 0) {
        s += d.first_lost == d.last_lost ? "; LSN " + std::to_string(d.first_lost) + " not read"
                                         : "; LSNs " + std::to_string(d.first_lost) + ".." +
                                               std::to_string(d.last_lost) + " not read";
    }
    if (d.at_tail) s += " (at the end of the log: a write cut short by a crash, or one in progress)";
    return s;
}

log_session::log_session(context& ctx, const std::filesystem::path& dir, std::string activity, bool report)
    : ctx_(&ctx),
      dir_(dir),
      fs_(posix_file_system()),
      walk_(fs_, dir, read_segments(*fs_, dir)),
      progress_(ctx.err, ctx.progress, std::move(activity)) {
    for (const segment_file& s : walk_.segments()) total_ += s.size;
    walk_.on_damage = [this, report](const walk_damage& d) {
        damages_.push_back(d);
        if (!report) return;
        progress_.clear();
        ctx_->err << "wal-inspect: damage: " << describe(d) << '\n';
    };
}

void log_session::find_recoverable_end() {
    progress prog(ctx_->err, ctx_->progress, "recovery scan");
    const recovery_mode mode[] = {recovery_mode::tolerate_corrupted_tail};
    const auto plans = scan_log(*fs_, dir_, list_segment_ids(*fs_, dir_), mode, prog, nullptr);
    recoverable_end_.reset();
    if (!plans.front().error) recoverable_end_ = plans.front().info.last_lsn;
}

bool log_session::next(walked_record& r) {
    if (!walk_.next(r)) return false;
    if ((++count_ & 0x3FF) == 0 && ctx_->progress) {
        const auto& segs = walk_.segments();
        const std::size_t index = walk_.segment_index();
        std::uint64_t done = r.pos.offset;
        for (std::size_t i = 0; i < index && i < segs.size(); ++i) done += segs[i].size;
        progress_.update(done, total_,
                         "segment " + std::to_string(index + 1) + "/" + std::to_string(segs.size()));
    }
    return true;
}

}  // namespace noriwal::inspect
