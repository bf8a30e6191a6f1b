// The key index: on its own, and kept by the registry against a model (a std::map fed the same
// random puts, erases, deletions, truncations and reopens, with a fixed seed).
#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>

#include "read/engine_harness.hpp"
#include "read/key_index.hpp"
#include "support/printing.hpp"
#include "support/sim_disk.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>

using namespace noriwal;
using noriwal::detail::key_index;
using noriwal::test::engine_log;
using noriwal::test::str;

namespace {

std::vector<lsn_t> lsns_of(const std::vector<key_index::hit>& hits) {
    std::vector<lsn_t> out;
    for (const auto& h : hits) out.push_back(h.lsn);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(key_index_unit)

BOOST_AUTO_TEST_CASE(records_latest_and_tombstones) {
    key_index idx;
    idx.add(as_bytes("a"), 1, 64, false);
    idx.add(as_bytes("b"), 2, 96, false);
    idx.add(as_bytes("a"), 3, 128, false);
    idx.add(as_bytes("b"), 4, 160, true);
    BOOST_TEST(lsns_of(idx.records_for(as_bytes("a"))) == (std::vector<lsn_t>{1, 3}));
    BOOST_TEST(idx.latest(as_bytes("a"))->offset == 128u);
    BOOST_TEST(!idx.latest(as_bytes("b")).has_value());  // its newest record is a tombstone
    BOOST_TEST(idx.records_for(as_bytes("b")).back().tombstone);
    BOOST_TEST(idx.live_keys() == std::vector<std::string>{"a"});
    BOOST_TEST(idx.record_count() == 4u);
    BOOST_TEST(idx.key_count() == 2u);
    BOOST_TEST(!idx.latest(as_bytes("zzz")).has_value());
    BOOST_TEST(idx.records_for(as_bytes("zzz")).empty());
}

BOOST_AUTO_TEST_CASE(trimming_both_ends) {
    key_index idx;
    for (lsn_t l = 1; l <= 1000; ++l)
        idx.add(as_bytes(std::string(1, char('a' + l % 5))), l, l * 8, l % 7 == 0);
    idx.trim_before(301);
    idx.trim_after(700);
    BOOST_TEST(idx.record_count() == 400u);
    for (int k = 0; k < 5; ++k) {
        const auto hits = idx.records_for(as_bytes(std::string(1, char('a' + k))));
        BOOST_TEST(hits.size() == 80u);
        for (const auto& h : hits) {
            BOOST_TEST(h.lsn >= 301u);
            BOOST_TEST(h.lsn <= 700u);
            BOOST_TEST(h.offset == h.lsn * 8);
        }
    }
    idx.trim_after(0);
    BOOST_TEST(idx.record_count() == 0u);
    BOOST_TEST(idx.key_count() == 0u);
    idx.add(as_bytes("x"), 5, 64, false);  // LSNs may restart after a truncation
    BOOST_TEST(idx.latest(as_bytes("x"))->lsn == 5u);
}

BOOST_AUTO_TEST_CASE(binary_keys) {
    key_index idx;
    const std::byte k1[] = {std::byte{0}, std::byte{1}, std::byte{0}};
    const std::byte k2[] = {std::byte{0}, std::byte{1}};
    idx.add(k1, 1, 64, false);
    idx.add(k2, 2, 96, false);
    idx.add(bytes_view{}, 3, 128, false);  // the empty key
    BOOST_TEST(idx.latest(k1)->lsn == 1u);
    BOOST_TEST(idx.latest(k2)->lsn == 2u);
    BOOST_TEST(idx.latest(bytes_view{})->lsn == 3u);
    BOOST_TEST(idx.key_count() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(key_index_wal)

// The index of a log, checked after every operation against a model of the records the log
// holds (LSN, key, tombstone), including the bytes a position from the index reads back.
BOOST_AUTO_TEST_CASE(index_matches_a_model_under_random_operations) {
    wal_config cfg;
    cfg.dir = "/data/log";
    cfg.fs = std::make_shared<noriwal::test::sim_disk>();
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 2048;
    cfg.prealloc = preallocation::none;
    cfg.index_keys = true;
    engine_log log(cfg);

    struct model_record {
        std::string key;
        bool tombstone;
        std::string value;
    };
    std::map<lsn_t, model_record> model;  // what the log holds
    std::mt19937_64 rng(20261122);
    auto pick = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };
    const int key_space = 24;
    auto key_name = [](std::uint64_t k) { return "k" + std::to_string(k); };

    auto check = [&](int step) {
        auto r = log.make_reader();
        std::map<std::string, std::vector<lsn_t>> by_key;
        for (const auto& [lsn, rec] : model) by_key[rec.key].push_back(lsn);
        std::vector<std::string> live;
        for (const auto& [k, lsns] : by_key)
            if (!model.at(lsns.back()).tombstone) live.push_back(k);
        auto keys = log.registry().keys();
        std::sort(keys.begin(), keys.end());
        BOOST_TEST_REQUIRE(keys == live, "step " << step);
        BOOST_TEST_REQUIRE(log.registry().indexed_records() == model.size(), "step " << step);
        for (int k = 0; k < key_space; ++k) {
            const std::string name = key_name(static_cast<std::uint64_t>(k));
            const auto positions = log.registry().records_for(as_bytes(name));
            std::vector<lsn_t> got;
            for (const auto& p : positions) got.push_back(p.lsn);
            BOOST_TEST_REQUIRE(got == by_key[name], "step " << step << " key " << name);
            const auto latest = log.registry().latest(as_bytes(name));
            const bool live_key = !by_key[name].empty() && !model.at(by_key[name].back()).tombstone;
            BOOST_TEST_REQUIRE(latest.has_value() == live_key, "step " << step << " key " << name);
            if (latest) {
                BOOST_TEST_REQUIRE(latest->lsn == by_key[name].back());
                const entry e = r.read_at(*latest);
                BOOST_TEST_REQUIRE(str(e.key()) == name);
                BOOST_TEST_REQUIRE(str(e.value()) == model.at(latest->lsn).value);
            }
        }
    };

    lsn_t next = 1;
    int appended = 0, deletions = 0, truncations = 0, reopens = 0;
    for (int step = 0; step < 1500; ++step) {
        const auto op = pick(100);
        if (op < 60) {
            const std::string k = key_name(pick(key_space));
            const std::string v(pick(700), static_cast<char>('a' + pick(26)));
            const position p = log.put(k, v);
            BOOST_TEST_REQUIRE(p.lsn == next);
            model[next++] = {k, false, v};
            ++appended;
        } else if (op < 80) {
            const std::string k = key_name(pick(key_space));
            const position p = log.append(record::put_tombstone(k));
            BOOST_TEST_REQUIRE(p.lsn == next);
            model[next++] = {k, true, ""};
        } else if (op < 88) {
            if (model.empty()) continue;
            // Delete up to a random record's position.
            auto it = std::next(model.begin(), static_cast<long>(pick(model.size())));
            auto r = log.make_reader();
            BOOST_TEST_REQUIRE(!r.seek(it->first));
            const position p = r.tell();
            if (log.delete_before(p) > 0) ++deletions;
            const lsn_t first = log.log().first_lsn();
            BOOST_TEST_REQUIRE(first <= p.lsn);
            model.erase(model.begin(), model.lower_bound(first));
        } else if (op < 92) {
            if (model.empty()) continue;
            const lsn_t to = model.begin()->first - 1 + pick(model.size() + 1);
            log.truncate_after(to);
            if (model.upper_bound(to) != model.end()) ++truncations;
            model.erase(model.upper_bound(to), model.end());
            next = to + 1;
        } else {
            log.reopen();
            ++reopens;
        }
        check(step);
    }
    // The run exercised every operation (the seed is fixed: these hold or the test changed).
    BOOST_TEST(appended > 500);
    BOOST_TEST(deletions > 10);
    BOOST_TEST(truncations > 10);
    BOOST_TEST(reopens > 10);
    BOOST_TEST_MESSAGE(appended << " appends, " << deletions << " deletions, " << truncations
                                << " truncations, " << reopens << " reopens");
}

BOOST_AUTO_TEST_SUITE_END()
