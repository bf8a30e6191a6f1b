// The edges of durability (issue 17, doc/durability.md): what open says when it fails, what a
// failed append means, reopening in place, and the batch window under a slow fdatasync. On the
// simulated disk; no assertion depends on timing (waits only bound how long a broken build hangs).
#include <noriwal/wal.hpp>

#include "support/eventually.hpp"
#include "support/sim_disk.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace noriwal;
using namespace std::chrono_literals;
using boost::system::error_code;

namespace {

wal_config sim_config(const std::shared_ptr<test::sim_disk>& disk,
                      fsync_policy policy = fsync_policy::always()) {
    wal_config cfg;
    cfg.dir = "/log";
    cfg.fs = disk;
    cfg.fsync = policy;
    cfg.max_segment_size = 64u << 10;
    cfg.max_record_size = 4u << 10;
    return cfg;
}

using test::eventually;

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

std::filesystem::path segment_file(std::uint64_t id) {
    std::string n = std::to_string(id);
    return std::filesystem::path("/log") / (std::string(20 - n.size(), '0') + n + ".wal");
}

std::pair<error_code, position> try_append(wal& w, const record& r) {
    std::promise<std::pair<error_code, position>> pr;
    auto f = pr.get_future();
    w.async_append(r, [&pr](error_code ec, position p) { pr.set_value({ec, p}); });
    return f.get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(open_errors)

// Issue 17, item 4: async_open explains itself as the blocking open does.
BOOST_AUTO_TEST_CASE(async_open_of_a_damaged_log_says_where_and_what_to_do) {
    auto disk = std::make_shared<test::sim_disk>();
    std::vector<position> ps;
    {
        auto w = wal::open(sim_config(disk)).log;
        for (int i = 0; i < 10; ++i) ps.push_back(w.append(record::put("k", std::string(100, 'a' + i))));
        w.close();
    }
    damage_byte(*disk, segment_file(ps[3].segment_id),
                ps[3].offset + 40);  // mid-log: 6 durable records follow

    asio::io_context ioc;
    std::optional<error_code> got;
    recovery_info info;
    wal::async_open(ioc.get_executor(), sim_config(disk), [&](error_code ec, wal, recovery_info i) {
        got = ec;
        info = std::move(i);
    });
    ioc.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST((*got == errc::corrupted));
    BOOST_TEST(
        info.error_message.find(segment_file(ps[3].segment_id).filename().string()) != std::string::npos,
        info.error_message);
    BOOST_TEST(info.error_message.find("offset " + std::to_string(ps[3].offset)) != std::string::npos,
               info.error_message);
    BOOST_TEST(info.error_message.find("point_in_time") != std::string::npos, info.error_message);
    // The same line as the blocking open's exception.
    try {
        wal::open(sim_config(disk));
        BOOST_FAIL("a damaged log opened");
    } catch (const std::system_error& e) {
        BOOST_TEST(std::string(e.what()).find(info.error_message) != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(a_segment_that_cannot_be_opened_for_writing_says_writing) {
    auto disk = std::make_shared<test::sim_disk>();
    wal::open(sim_config(disk)).log.append(record::put("k", "v"));
    disk->set_fault_hook([](const test::sim_event& e) -> std::error_code {
        if (e.op == test::sim_op::open && e.path.extension() == ".wal")
            return {EACCES, std::system_category()};
        return {};
    });
    std::error_code ec;
    std::string why;
    auto o = wal::open(sim_config(disk), ec, &why);
    BOOST_TEST((ec == std::errc::permission_denied));
    BOOST_TEST(why.find("for writing") != std::string::npos, why);
    BOOST_TEST(why.find("cannot read") == std::string::npos, why);
    BOOST_TEST(why.find("read_only") != std::string::npos, why);
}

BOOST_AUTO_TEST_CASE(no_space_for_the_active_segment_names_the_size_it_needs) {
    auto disk = std::make_shared<test::sim_disk>();
    disk->set_capacity(16u << 10);
    auto cfg = sim_config(disk);  // 64 KiB zero-filled segments do not fit in 16 KiB
    std::error_code ec;
    std::string why;
    auto o = wal::open(cfg, ec, &why);
    BOOST_TEST((ec == errc::no_space));
    BOOST_TEST(why.find("max_segment_size (65536 bytes)") != std::string::npos, why);
    BOOST_TEST(why.find("smaller") != std::string::npos, why);
}

BOOST_AUTO_TEST_CASE(a_directory_that_is_a_file_is_named_once) {
    test::temp_dir tmp;
    std::ofstream(tmp / "file") << "x";
    wal_config cfg;
    cfg.dir = tmp / "file" / "log";
    try {
        wal::open(cfg);
        BOOST_FAIL("a log opened under a file");
    } catch (const std::system_error& e) {
        const std::string what = e.what();
        BOOST_TEST(count_of(what, std::make_error_code(std::errc::not_a_directory).message()) == 1u, what);
        BOOST_TEST(what.find(cfg.dir.string()) != std::string::npos, what);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(batch_window)

// Issue 17, item 5: under batch(w), once the window of the oldest unsynced completion has
// passed while a (slow) fdatasync is in flight, further appends complete only when durable.
BOOST_AUTO_TEST_CASE(appends_past_the_window_wait_for_a_slow_fdatasync) {
    auto disk = std::make_shared<test::sim_disk>();
    auto cfg = sim_config(disk, fsync_policy::batch(5ms));
    cfg.prealloc = preallocation::none;  // no fdatasync on the spare thread: every sync is a round
    auto w = wal::open(cfg).log;

    std::mutex m;
    std::condition_variable cv;
    bool released = false;
    std::atomic<int> entered{0};
    disk->set_fault_hook([&](const test::sim_event& e) -> std::error_code {
        if (e.op != test::sim_op::sync) return {};
        entered.fetch_add(1);
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return released; });  // a very slow fdatasync
        return {};
    });
    auto release = [&] {
        {
            std::lock_guard lk(m);
            released = true;
        }
        cv.notify_all();
    };

    auto [ec1, p1] = try_append(w, record::put("k", "1"));
    BOOST_TEST(!ec1);
    BOOST_TEST_REQUIRE(eventually([&] { return entered.load() >= 1; }), "the batch timer started no round");
    auto [ec2, p2] = try_append(w, record::put("k", "2"));  // completes once written: its window starts
    BOOST_TEST(!ec2);
    BOOST_TEST(w.durable_lsn() < p2.lsn);
    std::this_thread::sleep_for(20ms);  // LSN 2's window (5 ms) passes; the round is still stuck

    // The handler runs on the wal's thread: it records what it saw and the test thread checks
    // it (Boost.Test's checks are not thread-safe).
    std::atomic<bool> done{false};
    std::atomic<lsn_t> durable_at_completion{0};
    error_code ec3;
    position p3;
    w.async_append(record::put("k", "3"), [&](error_code ec, position p) {
        ec3 = ec;
        p3 = p;
        durable_at_completion = w.durable_lsn();
        done = true;
    });
    std::this_thread::sleep_for(50ms);
    BOOST_TEST(!done.load(), "an append completed unsynced while the batch window was exceeded");
    release();
    BOOST_TEST_REQUIRE(eventually([&] { return done.load(); }));
    BOOST_TEST(!ec3);
    BOOST_TEST(durable_at_completion.load() >= p3.lsn);
    BOOST_TEST(eventually([&] { return w.durable_lsn() >= p2.lsn; }));
    disk->set_fault_hook({});
    w.close();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(failed_appends)

// Issue 17, item 3 (doc/durability.md, "What a failed append means"): an append that completes
// with errc::poisoned was never written and is absent after a reopen; one that completes with
// the failure itself (io_failed, no_space) was written and is in doubt; a success is present.
BOOST_AUTO_TEST_CASE(a_poisoned_append_is_absent_after_reopen_and_an_in_doubt_one_may_be_present) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk, fsync_policy::always())).log;
    BOOST_TEST(w.append(record::put("a", "acknowledged")).lsn == 1u);

    std::mutex m;
    std::condition_variable cv;
    bool released = false;
    std::atomic<bool> armed{true};
    std::atomic<int> entered{0};
    disk->set_fault_hook([&](const test::sim_event& e) -> std::error_code {
        // The rounds' fdatasync, not the spare segment's (prepared on its own thread).
        char name[16] = {};
        pthread_getname_np(pthread_self(), name, sizeof name);
        if (e.op != test::sim_op::sync || !armed.load() || std::string_view(name) != "noriwal-sync")
            return {};
        entered.fetch_add(1);
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return released; });
        armed = false;
        return test::eio();  // the fdatasync of the round fails
    });

    struct outcome {
        std::string key;
        std::atomic<bool> done{false};
        error_code ec;
    };
    std::vector<std::unique_ptr<outcome>> outcomes;
    auto start = [&](const std::string& key) {
        outcomes.push_back(std::make_unique<outcome>());
        outcome* o = outcomes.back().get();
        o->key = key;
        w.async_append(record::put(key, "v"), [o](error_code ec, position) {
            o->ec = ec;
            o->done = true;
        });
    };
    start("b");  // its round blocks in the fdatasync
    BOOST_TEST_REQUIRE(eventually([&] { return entered.load() == 1; }));
    start("c");  // written while the round is in flight: waits for the next round
    start("d");
    BOOST_TEST_REQUIRE(eventually([&] { return w.written_lsn() == 4u; }));
    {
        std::lock_guard lk(m);
        released = true;
    }
    cv.notify_all();
    BOOST_TEST_REQUIRE(eventually([&] {
        for (const auto& o : outcomes)
            if (!o->done) return false;
        return true;
    }));
    start("e");  // after the failure: never written
    BOOST_TEST_REQUIRE(eventually([&] { return outcomes.back()->done.load(); }));

    for (const auto& o : outcomes) {
        if (o->key == "e") {
            BOOST_TEST((o->ec == errc::poisoned), o->key);
        } else {
            BOOST_TEST((o->ec == errc::io_failed), o->key << ": " << o->ec.message());  // in doubt
        }
    }

    // The process dies (the page cache survives) and the log is reopened.
    auto after = disk->snapshot();
    w = wal();
    auto reopened = wal::open(sim_config(after, fsync_policy::always())).log;
    std::set<std::string> present;
    auto r = reopened.make_reader();
    while (auto e = r.try_next()) present.insert(std::string(as_string(e->key())));
    BOOST_TEST(present.count("a") == 1u);  // acknowledged
    BOOST_TEST(present.count("e") == 0u);  // poisoned: never written
    // b, c and d were written: here the page cache kept them, so they are present, which their
    // error (io_failed, not poisoned) allows.
    BOOST_TEST(present.count("c") == 1u);
    BOOST_TEST(present.count("d") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
