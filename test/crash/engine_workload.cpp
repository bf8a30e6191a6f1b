#include "crash/engine_workload.hpp"

#include <noriwal/error.hpp>

#include "support/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>

namespace noriwal::test {

engine_workload::engine_workload(std::string name, wal_config cfg, crash_explorer* explorer,
                                 crash_schedule schedule)
    : name_(std::move(name)),
      cfg_(std::move(cfg)),
      explorer_(explorer),
      schedule_(schedule),
      schedule_rng_(schedule.seed),
      disk_(std::make_shared<sim_disk>()) {
    cfg_.dir = crash_dir;
    phase_ = "first open";
    open();
}

engine_workload::~engine_workload() {
    if (disk_) disk_->set_after_hook({});
}

void engine_workload::open() {
    disk_->set_after_hook([this](const sim_event& ev, std::error_code ec) { after_op(ev, ec); });
    cfg_.fs = disk_;
    recovery_info info;
    std::string why;
    const auto ec = detail::segment_log::open(cfg_, log_, info, why);
    BOOST_TEST_REQUIRE(!ec, name_ << ": open: " << ec.message() << " (" << why << ")");
    settle();
}

void engine_workload::after_op(const sim_event& ev, std::error_code ec) {
    if (explorer_ == nullptr || ec || !is_mutating(ev.op)) return;
    if (schedule_.probability < 1.0 &&
        std::uniform_real_distribution<double>(0.0, 1.0)(schedule_rng_) >= schedule_.probability)
        return;
    lsn_t durable = std::max(acked_, log_ ? log_->durable_lsn() : 0);
    if (truncate_to_) durable = std::min(durable, *truncate_to_);
    model_.required_to = durable;
    const auto snap = disk_->snapshot();
    explorer_->explore(*snap, model_,
                       name_ + ": op #" + std::to_string(ev.seq) + " " + std::string(to_string(ev.op)) + " " +
                           ev.path.filename().string() + " during " + phase_);
}

void engine_workload::settle() {
    if (log_) acked_ = std::max(acked_, log_->durable_lsn());
    // NORIWAL_CRASH_TRACE=1 prints every step of every workload (to follow a failure).
    static const bool trace = std::getenv("NORIWAL_CRASH_TRACE") != nullptr;
    if (trace && log_)
        BOOST_TEST_MESSAGE(name_ << ": done: " << (phase_.empty() ? "open" : phase_) << "; written "
                                 << log_->written_lsn() << ", durable " << log_->durable_lsn()
                                 << ", segments " << log_->segments().size());
    phase_.clear();
}

record_content engine_workload::next_content(std::size_t max_value) {
    return make_content(name_, counter_++, max_value);
}

std::vector<position> engine_workload::append(std::vector<record_content> contents, bool atomic) {
    const lsn_t first = log_->next_position().lsn;
    const lsn_t last = first + contents.size() - 1;
    for (std::size_t i = 0; i < contents.size(); ++i) {
        const lsn_t lsn = first + i;
        model_.allow(lsn, contents[i], atomic ? first : lsn, atomic ? last : lsn);
    }
    phase_ =
        "append of LSN " + std::to_string(first) + ".." + std::to_string(last) + (atomic ? " (batch)" : "");
    std::vector<position> pos;
    const auto ec = append_contents(*log_, contents, atomic, &pos);
    BOOST_TEST_REQUIRE(!ec, name_ << ": " << phase_ << ": " << ec.message());
    for (std::size_t i = 0; i < pos.size(); ++i) BOOST_TEST_REQUIRE(pos[i].lsn == first + i);
    settle();
    return pos;
}

void engine_workload::append_group(const std::vector<append_group_request>& group) {
    lsn_t lsn = log_->next_position().lsn;
    const lsn_t first = lsn;
    for (const auto& req : group) {
        const lsn_t bf = lsn;
        const lsn_t bl = lsn + req.contents.size() - 1;
        for (const auto& c : req.contents) {
            model_.allow(lsn, c, req.atomic ? bf : lsn, req.atomic ? bl : lsn);
            ++lsn;
        }
    }
    phase_ = "group append of LSN " + std::to_string(first) + ".." + std::to_string(lsn - 1);
    std::vector<std::error_code> results;
    const auto ec = test::append_group(*log_, group, results);
    BOOST_TEST_REQUIRE(!ec, name_ << ": " << phase_ << ": " << ec.message());
    for (const auto& r : results) BOOST_TEST_REQUIRE(!r, name_ << ": " << phase_ << ": " << r.message());
    BOOST_TEST_REQUIRE(log_->written_lsn() == lsn - 1);
    settle();
}

void engine_workload::append_mix(std::size_t n, std::size_t sync_every, std::mt19937_64& rng) {
    std::size_t calls = 0;
    for (std::size_t done = 0; done < n;) {
        const auto kind = rng() % 6;
        if (kind <= 2) {
            append({next_content()});
            done += 1;
        } else if (kind == 3) {
            std::vector<append_group_request> g;
            const std::size_t k = 2 + rng() % 3;
            for (std::size_t i = 0; i < k; ++i) {
                append_group_request r;
                r.contents.push_back(next_content(700));
                if (rng() % 3 == 0) {
                    r.contents.push_back(next_content(300));
                    r.atomic = true;
                }
                done += r.contents.size();
                g.push_back(std::move(r));
            }
            append_group(g);
        } else {
            std::vector<record_content> b;
            const std::size_t k = 2 + rng() % 4;
            for (std::size_t i = 0; i < k; ++i) b.push_back(next_content(500));
            done += k;
            append(std::move(b), true);
        }
        if (sync_every != 0 && ++calls % sync_every == 0) sync();
    }
}

lsn_t engine_workload::batch_boundary(lsn_t lsn) const {
    if (lsn < model_.allowed.size() && model_.allowed[lsn] && model_.allowed[lsn]->batch_last != lsn)
        return model_.allowed[lsn]->batch_first - 1;
    return lsn;
}

void engine_workload::sync() {
    phase_ = "sync of LSN .." + std::to_string(log_->written_lsn());
    const auto ec = log_->sync();
    BOOST_TEST_REQUIRE(!ec, name_ << ": sync: " << ec.message());
    BOOST_TEST_REQUIRE(log_->durable_lsn() == log_->written_lsn());
    settle();
}

std::uint64_t engine_workload::delete_before(lsn_t lsn) {
    // The segments that stay: from the first whose successor starts after `lsn`.
    const auto segs = log_->segments();
    std::size_t k = 0;
    while (k + 1 < segs.size() && segs[k + 1].base_lsn <= lsn) ++k;
    const lsn_t new_floor = segs[k].base_lsn;
    model_.required_from = std::max(model_.required_from, new_floor);
    phase_ = "delete_segments_before(" + std::to_string(lsn) + ")";
    std::uint64_t deleted = 0;
    const auto ec = log_->delete_segments_before(position{0, 0, lsn}, deleted);
    BOOST_TEST_REQUIRE(!ec, name_ << ": " << phase_ << ": " << ec.message());
    BOOST_TEST_REQUIRE(deleted == k);
    // Deleted durably: those records never come back.
    model_.floor = std::max(model_.floor, new_floor);
    for (lsn_t l = 1; l < new_floor && l < model_.allowed.size(); ++l) model_.allowed[l].reset();
    settle();
    return deleted;
}

void engine_workload::truncate_after(lsn_t lsn) {
    phase_ = "truncate_after(" + std::to_string(lsn) + ")";
    const bool noop = lsn >= log_->written_lsn();
    truncate_to_ = lsn;
    const auto ec = log_->truncate_after(lsn);
    truncate_to_.reset();
    BOOST_TEST_REQUIRE(!ec, name_ << ": " << phase_ << ": " << ec.message());
    if (!noop) {
        BOOST_TEST_REQUIRE(log_->next_position().lsn == lsn + 1);
        BOOST_TEST_REQUIRE(log_->durable_lsn() == lsn);
        model_.forget_after(lsn);
        acked_ = lsn;
        // Emptied below the deleted prefix: the log starts again at lsn + 1.
        model_.floor = std::min(model_.floor, lsn + 1);
        model_.required_from = std::min(model_.required_from, lsn + 1);
    }
    settle();
}

void engine_workload::rotate() {
    phase_ = "rotate";
    const auto ec = log_->rotate();
    BOOST_TEST_REQUIRE(!ec, name_ << ": rotate: " << ec.message());
    settle();
}

void engine_workload::prepare_spare() {
    phase_ = "spare preparation";
    if (auto req = log_->spare_needed()) {
        detail::spare_segment spare;
        const auto ec = detail::make_spare(*req, spare);
        BOOST_TEST_REQUIRE(!ec, name_ << ": make_spare: " << ec.message());
        log_->spare_ready(std::move(spare), ec);
    }
    settle();
}

void engine_workload::close_and_reopen() {
    phase_ = "close";
    const auto ec = log_->close();
    BOOST_TEST_REQUIRE(!ec, name_ << ": close: " << ec.message());
    acked_ = std::max(acked_, log_->written_lsn());
    log_.reset();
    phase_ = "reopen of a closed log";
    open();
}

void engine_workload::power_cut_and_recover(std::uint64_t seed) {
    log_.reset();  // the process is gone: nothing synced, the lock released
    disk_->set_after_hook({});
    const auto plan = disk_->random_power_cut(seed);
    disk_ = disk_->power_cut(plan);
    model_.required_to = acked_;
    phase_ = "recovery after a power cut (" + describe(plan) + ")";
    open();
    std::vector<read_record> got;
    const auto err = read_log(*disk_, crash_dir, got);
    BOOST_TEST_REQUIRE(err.empty(), name_ << ": " << err);
    const auto bad = check_log(got, model_);
    BOOST_TEST_REQUIRE(bad.empty(),
                       name_ << ": recovery after a power cut (" << describe(plan) << "): " << bad);
    // Records lost in the cut free their LSNs: later appends reuse them with other contents.
    const lsn_t last = got.empty() ? log_->next_position().lsn - 1 : got.back().lsn;
    model_.forget_after(last);
    acked_ = last;
    BOOST_TEST_REQUIRE(log_->durable_lsn() == last);
}

}  // namespace noriwal::test
