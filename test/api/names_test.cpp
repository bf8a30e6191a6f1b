// One family of names: durability is spelled as fsync_policy is (factory functions), a
// tombstone is made by record::put_tombstone and read as entry::tombstone(), and open and
// async_open give the same (log, recovery) pair. The old spellings still compile, deprecated,
// and mean what the new ones do.
#include <noriwal/config.hpp>
#include <noriwal/reader.hpp>
#include <noriwal/record.hpp>
#include <noriwal/wal.hpp>

#include "api/api_support.hpp"

#include <boost/test/unit_test.hpp>

#include <tuple>
#include <type_traits>

using namespace noriwal;

namespace {

// Both families are values made by functions, compared with ==.
static_assert(fsync_policy::always() == fsync_policy::always());
static_assert(durability::always() != durability::as_configured());
static_assert(durability{} == durability::as_configured());
static_assert(durability::always().value() == durability::kind::always);

// The old spellings, kept for one release (CHANGELOG.md lists them).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static_assert(durability::policy == durability::as_configured());
static_assert(durability::sync == durability::always());
const record old_tombstone = record::erase("k");
#pragma GCC diagnostic pop

}  // namespace

BOOST_AUTO_TEST_SUITE(names)

BOOST_AUTO_TEST_CASE(the_deprecated_erase_makes_the_same_tombstone) {
    const record now = record::put_tombstone("k");
    BOOST_TEST(now.tombstone);
    BOOST_TEST(old_tombstone.tombstone);
    BOOST_TEST(as_string(old_tombstone.key) == as_string(now.key));
    BOOST_TEST(now.value.empty());
}

BOOST_AUTO_TEST_CASE(durability_always_makes_one_append_durable_under_os) {
    auto log = wal::open(test::api_config(fsync_policy::os())).log;
    log.append(record::put("k", "v"));
    BOOST_TEST(log.durable_lsn() == 0u);  // os: written, not synced
    const position p = log.append(record::put("k", "w"), durability::always());
    BOOST_TEST(log.durable_lsn() >= p.lsn);
    log.close();
}

BOOST_AUTO_TEST_CASE(a_tombstone_reads_back_as_one) {
    auto log = wal::open(test::api_config()).log;
    log.append(record::put("k", "v"));
    log.append(record::put_tombstone("k"));
    auto r = log.make_reader();
    BOOST_TEST(!r.try_next()->tombstone());
    const auto e = r.try_next();
    BOOST_TEST(e->tombstone());
    BOOST_TEST(e->value().empty());
    log.close();
}

BOOST_AUTO_TEST_CASE(open_results_destructure_alike) {
    const auto cfg = test::api_config();
    auto [log, recovery] = wal::open(cfg);  // opened{log, recovery}
    static_assert(std::is_same_v<decltype(log), wal>);
    static_assert(std::is_same_v<decltype(recovery), recovery_info>);
    log.append(record::put("k", "v"));
    log.close();
    // The pair async_open completes with, as a coroutine receives it, converts to opened.
    wal::opened o(std::tuple<wal, recovery_info>{});
    BOOST_TEST(!o.log.is_open());
}

BOOST_AUTO_TEST_SUITE_END()
