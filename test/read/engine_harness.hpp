// A log driven the way the wal drives it, without the wal's threads: the synchronous engine
// and its segment registry, kept in step by served_log (as in the wal's writer strand). Reader tests use it
// to control exactly when records are written, synced, deleted or truncated.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/reader.hpp>
#include <noriwal/record.hpp>

#include "log/segment_log.hpp"
#include "read/reader_core.hpp"
#include "read/segment_registry.hpp"
#include "read/served_log.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace noriwal::test {

class engine_log {
public:
    explicit engine_log(wal_config cfg) : cfg_(std::move(cfg)) { open(); }

    void open() {
        recovery_info info;
        std::string why;
        const auto ec = detail::served_log::open(cfg_, cfg_, log_, info, why);
        BOOST_TEST_REQUIRE(!ec, "open: " << ec.message() << ": " << why);
        recovery = info;
        registry_ = log_->registry();
    }

    /// Closes (the registry tells waiting readers) and opens again: what a reopened wal does.
    void reopen() {
        close();
        open();
    }

    std::vector<position> append_group(std::span<const record> recs, bool atomic = false) {
        std::vector<detail::encoded_record> enc(recs.size());
        std::vector<detail::encoded_record*> ptrs;
        detail::encode_options opts;
        opts.max_record_size = cfg_.max_record_size;
        opts.default_compression = cfg_.default_compression;
        opts.compression_min_size = cfg_.compression_min_size;
        for (std::size_t i = 0; i < recs.size(); ++i) {
            BOOST_TEST_REQUIRE(!detail::encode_record(recs[i], opts, enc[i]));
            ptrs.push_back(&enc[i]);
        }
        std::vector<position> pos(recs.size());
        std::vector<detail::append_request> group;
        if (atomic) {
            group.push_back({ptrs, true, pos.data()});
        } else {
            for (std::size_t i = 0; i < recs.size(); ++i) group.push_back({{&ptrs[i], 1}, false, &pos[i]});
        }
        std::vector<std::error_code> results(group.size());
        const auto ec = log_->append(group, results);
        BOOST_TEST_REQUIRE(!ec, "append: " << ec.message());
        log_->refresh();
        return pos;
    }

    position append(const record& r) { return append_group(std::span<const record>(&r, 1)).front(); }
    position put(std::string_view k, std::string_view v) { return append(record::put(k, v)); }

    void sync() {
        BOOST_TEST_REQUIRE(!log_->engine().sync());
        log_->refresh();
    }

    std::uint64_t delete_before(const position& p) {
        std::uint64_t n = 0;
        BOOST_TEST_REQUIRE(!log_->delete_before(p, n));
        return n;
    }

    std::uint64_t apply_retention(std::uint64_t now_ns) {
        std::uint64_t n = 0;
        BOOST_TEST_REQUIRE(!log_->apply_retention(now_ns, n));
        return n;
    }

    void truncate_after(lsn_t lsn) { BOOST_TEST_REQUIRE(!log_->truncate_after(lsn)); }

    void close() {
        if (!log_) return;
        (void)log_->close();
        log_->end();
        log_.reset();
    }

    reader make_reader(
        reader_options opts = {},
        boost::asio::any_io_executor ex = boost::asio::any_io_executor(boost::asio::system_executor())) {
        return detail::reader_access::make(
            std::make_shared<detail::reader_core>(registry_, std::move(opts), std::move(ex)));
    }

    detail::segment_log& log() { return log_->engine(); }
    detail::segment_registry& registry() { return *registry_; }
    const wal_config& config() const { return cfg_; }
    recovery_info recovery;

private:
    wal_config cfg_;
    std::unique_ptr<detail::served_log> log_;
    std::shared_ptr<detail::segment_registry> registry_;
};

inline std::string str(bytes_view b) { return std::string(as_string(b)); }

}  // namespace noriwal::test
