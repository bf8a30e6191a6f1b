#include "crash/wal_workload.hpp"

#include <noriwal/error.hpp>

#include "log/segment_log.hpp"
#include "support/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <future>

namespace noriwal::test {
namespace {

using boost::system::error_code;

template <class T>
std::shared_ptr<std::promise<T>> make_promise() {
    return std::make_shared<std::promise<T>>();
}

}  // namespace

wal_workload::wal_workload(std::string name, wal_config cfg, crash_explorer* explorer, double p,
                           std::uint64_t seed)
    : name_(std::move(name)),
      cfg_(std::move(cfg)),
      explorer_(explorer),
      p_(p),
      disk_(std::make_shared<sim_disk>()),
      rng_(seed) {
    cfg_.dir = crash_dir;
    cfg_.fs = disk_;
    disk_->set_after_hook([this](const sim_event& ev, std::error_code ec) { after_op(ev, ec); });
    std::error_code ec;
    std::string why;
    auto opened = noriwal::wal::open(cfg_, ec, &why);
    BOOST_TEST_REQUIRE(!ec, name_ << ": open: " << ec.message() << " (" << why << ")");
    std::lock_guard g(explore_mutex_);
    wal_ = std::move(opened.log);
    live_ = true;
}

wal_workload::~wal_workload() {
    noriwal::wal last;
    {
        std::lock_guard g(explore_mutex_);
        live_ = false;
        last = std::move(wal_);
    }
    last = {};  // outside the lock: closing waits for the wal's threads, which may be in a hook
    disk_->set_after_hook({});
}

void wal_workload::after_op(const sim_event& ev, std::error_code ec) {
    if (explorer_ == nullptr || ec || !is_mutating(ev.op)) return;
    std::lock_guard g(explore_mutex_);
    if (std::uniform_real_distribution<double>(0.0, 1.0)(rng_) >= p_) return;
    // In this order: the watermark and the model's acknowledgements first, then the disk, so
    // that everything they promise happened before the snapshot; then what the model allows,
    // which includes every append initiated before the snapshot.
    const lsn_t durable = live_ ? wal_.durable_lsn() : 0;
    std::shared_ptr<sim_disk> snap;
    const auto check = model_.check_around(durable, [&] { snap = disk_->snapshot(); });
    explorer_->explore(*snap, check,
                       name_ + ": op #" + std::to_string(ev.seq) + " " + std::string(to_string(ev.op)) + " " +
                           ev.path.filename().string(),
                       "durable watermark " + std::to_string(durable));
}

void wal_workload::crash_point(const std::string& where) {
    if (explorer_ == nullptr) return;
    std::lock_guard g(explore_mutex_);
    const lsn_t durable = live_ ? wal_.durable_lsn() : 0;
    std::shared_ptr<sim_disk> snap;
    const auto check = model_.check_around(durable, [&] { snap = disk_->snapshot(); });
    explorer_->explore(*snap, check, name_ + ": " + where, "durable watermark " + std::to_string(durable));
}

std::error_code wal_workload::append_stream(const std::string& stream, std::size_t count, std::size_t burst,
                                            std::size_t batch_every, durability d) {
    const bool durable = d == durability::always() || cfg_.fsync.policy() == fsync_policy::kind::always;
    std::size_t done = 0;
    std::size_t op = 0;
    std::error_code first;
    while (done < count && !first) {
        std::vector<std::future<error_code>> inflight;
        for (std::size_t i = 0; i < burst && done < count; ++i) {
            auto pr = make_promise<error_code>();
            inflight.push_back(pr->get_future());
            if (batch_every != 0 && ++op % batch_every == 0) {
                auto recs = model_.next_batch(stream, 2 + op % 3);
                std::vector<record> rs;
                for (const auto& c : recs) rs.push_back(c.as_record());
                done += recs.size();
                wal_.async_append_batch(rs, d,
                                        [this, recs, pr, durable](error_code ec, std::vector<position> pos) {
                                            for (std::size_t k = 0; k < recs.size(); ++k) {
                                                if (!ec) model_.acked(recs[k], pos[k].lsn, durable);
                                                if (ec == errc::truncated) model_.truncated(recs[k]);
                                            }
                                            pr->set_value(ec);
                                        });
            } else {
                auto c = std::make_shared<record_content>(model_.next(stream));
                ++done;
                wal_.async_append(c->as_record(), d, [this, c, pr, durable](error_code ec, position pos) {
                    if (!ec) model_.acked(*c, pos.lsn, durable);
                    if (ec == errc::truncated) model_.truncated(*c);
                    pr->set_value(ec);
                });
            }
        }
        for (auto& f : inflight) {
            const std::error_code ec = f.get();
            if (ec && !first) first = ec;
        }
    }
    return first;
}

std::error_code wal_workload::sync() {
    const auto ticket = model_.sync_started();
    auto pr = make_promise<error_code>();
    auto f = pr->get_future();
    wal_.async_sync([pr](error_code ec) { pr->set_value(ec); });
    const std::error_code ec = f.get();
    if (!ec) model_.sync_done(ticket);
    return ec;
}

std::error_code wal_workload::delete_before(lsn_t lsn, std::uint64_t* deleted) {
    model_.gc(lsn);
    auto pr = make_promise<std::pair<error_code, std::uint64_t>>();
    auto f = pr->get_future();
    wal_.async_delete_segments_before(position{0, 0, lsn}, [pr](error_code ec, std::uint64_t n) {
        pr->set_value({ec, n});
    });
    const auto [ec, n] = f.get();
    if (deleted != nullptr) *deleted = n;
    return ec;
}

std::error_code wal_workload::truncate_after(lsn_t lsn) {
    const auto ticket = model_.truncate_started(lsn);
    auto pr = make_promise<error_code>();
    auto f = pr->get_future();
    wal_.async_truncate_after(lsn, [pr](error_code ec) { pr->set_value(ec); });
    const std::error_code ec = f.get();
    if (!ec) model_.truncate_done(ticket);
    return ec;
}

std::error_code wal_workload::close() {
    const auto ticket = model_.sync_started();
    auto pr = make_promise<error_code>();
    auto f = pr->get_future();
    wal_.async_close([pr](error_code ec) { pr->set_value(ec); });
    const std::error_code ec = f.get();
    if (!ec) model_.sync_done(ticket);
    noriwal::wal last;
    {
        std::lock_guard g(explore_mutex_);
        live_ = false;
        last = std::move(wal_);
    }
    return ec;
}

std::string wal_workload::check_closed(std::vector<read_record>* final_log) {
    const auto cut = disk_->power_cut(power_cut_plan::drop_all());
    wal_config cfg = cfg_;
    cfg.fs = cut;
    std::unique_ptr<detail::segment_log> log;
    recovery_info info;
    std::string why;
    if (auto ec = detail::segment_log::open(cfg, log, info, why))
        return "reopen after close and a power cut: " + ec.message() + " (" + why + ")";
    std::vector<read_record> got;
    if (auto err = read_log(*cut, crash_dir, got); !err.empty()) return err;
    auto result = model_.check(got, log->written_lsn());
    if (final_log != nullptr) *final_log = std::move(got);
    return result;
}

}  // namespace noriwal::test
