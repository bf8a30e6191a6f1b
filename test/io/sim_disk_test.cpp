// The simulated disk keeps exactly what a real disk may keep after a power cut.
#include <noriwal/bytes.hpp>
#include <noriwal/error.hpp>

#include "support/printing.hpp"
#include "support/sim_disk.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <thread>

using namespace noriwal;
using namespace noriwal::test;

namespace {

const std::filesystem::path dir = "/log";

std::shared_ptr<sim_disk> fresh_disk() {
    auto disk = std::make_shared<sim_disk>();
    BOOST_TEST_REQUIRE(!disk->create_directories(dir));
    BOOST_TEST_REQUIRE(!disk->sync_directory("/"));  // the directory itself is durable
    return disk;
}

std::unique_ptr<file> create(sim_disk& disk, const std::filesystem::path& p) {
    std::unique_ptr<file> f;
    const auto ec = disk.open(p, open_mode::create_exclusive, f);
    BOOST_TEST_REQUIRE(!ec, "create " << p << ": " << ec.message());
    return f;
}

std::unique_ptr<file> open_rw(sim_disk& disk, const std::filesystem::path& p) {
    std::unique_ptr<file> f;
    const auto ec = disk.open(p, open_mode::read_write, f);
    BOOST_TEST_REQUIRE(!ec, "open " << p << ": " << ec.message());
    return f;
}

bool exists(sim_disk& disk, const std::filesystem::path& p) {
    std::unique_ptr<file> f;
    return !disk.open(p, open_mode::read_only, f);
}

std::string text(sim_disk& disk, const std::filesystem::path& p) {
    return std::string(as_string(read_file(disk, p)));
}

std::vector<std::string> names(sim_disk& disk, const std::filesystem::path& d) {
    std::vector<std::string> out;
    BOOST_TEST_REQUIRE(!disk.list(d, out));
    std::sort(out.begin(), out.end());
    return out;
}

// A file /log/f created, written with `durable` and synced (data and directory entry).
std::unique_ptr<file> durable_file(sim_disk& disk, std::string_view durable) {
    auto f = create(disk, dir / "f");
    BOOST_TEST_REQUIRE(!f->write_at(0, as_bytes(durable)));
    BOOST_TEST_REQUIRE(!f->sync());
    BOOST_TEST_REQUIRE(!disk.sync_directory(dir));
    return f;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sim_disk_suite)

BOOST_AUTO_TEST_CASE(drop_all_keeps_synced_data_and_loses_unsynced_writes) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, "durable.");
    BOOST_TEST(!f->write_at(8, as_bytes("volatile")));
    BOOST_TEST(text(*disk, dir / "f") == "durable.volatile");  // reads see the cache
    BOOST_TEST(disk->unsynced_write_count() == 1u);

    auto after = disk->power_cut(power_cut_plan::drop_all());
    BOOST_TEST(text(*after, dir / "f") == "durable.");
    BOOST_TEST(after->unsynced_write_count() == 0u);
    BOOST_TEST(after->volatile_dir_op_count() == 0u);
    // The original goes on untouched.
    BOOST_TEST(text(*disk, dir / "f") == "durable.volatile");
    BOOST_TEST(text(*disk->power_cut(power_cut_plan::keep_all()), dir / "f") == "durable.volatile");
}

BOOST_AUTO_TEST_CASE(synced_data_survives_every_power_cut) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, "0123456789");
    BOOST_TEST(!f->write_at(10, as_bytes("abc")));
    BOOST_TEST(!f->write_at(2000, std::vector<std::byte>(3000, std::byte{7})));
    BOOST_TEST(!f->truncate(4000));
    auto g = create(*disk, dir / "g");
    BOOST_TEST(!g->write_at(0, as_bytes("new file")));
    const auto tried = for_each_power_cut(*disk, [&](const power_cut_plan& plan) {
        auto after = disk->power_cut(plan);
        const auto content = read_file(*after, dir / "f");
        BOOST_TEST_REQUIRE(content.size() >= 10u);
        BOOST_TEST(as_string(std::span(content).first(10)) == "0123456789");
    });
    // 3 writes + 1 truncation + 1 creation: 32 subsets, plus the torn prefixes of the three
    // data writes (1, 7 and 1 sectors of 512 bytes).
    BOOST_TEST(tried == 32u + 1u + 7u + 1u);
}

BOOST_AUTO_TEST_CASE(any_subset_of_unsynced_writes_in_their_order) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, "........");
    BOOST_TEST(!f->write_at(0, as_bytes("AA")));
    BOOST_TEST(!f->write_at(4, as_bytes("BB")));
    BOOST_TEST(!f->write_at(1, as_bytes("CC")));  // overlaps the first
    BOOST_TEST(disk->unsynced_write_count() == 3u);
    const std::string expected[8] = {
        "........",  // none
        "AA......",  // A
        "....BB..",  // B
        "AA..BB..",  // A B
        ".CC.....",  // C
        "ACC.....",  // A C: C was written after A
        ".CC.BB..",  // B C
        "ACC.BB..",  // all
    };
    for (std::uint64_t mask = 0; mask < 8; ++mask) {
        BOOST_TEST(text(*disk->power_cut(power_cut_plan::from_bits(mask, 0)), dir / "f") == expected[mask],
                   "mask " << mask);
    }
    BOOST_TEST(text(*disk->power_cut(power_cut_plan::keep_prefix(2)), dir / "f") == "AA..BB..");
}

BOOST_AUTO_TEST_CASE(unsynced_truncation_and_allocation_may_be_lost) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, "0123456789");
    BOOST_TEST(!f->truncate(4));
    BOOST_TEST(!f->allocate(0, 100));
    std::uint64_t size = 0;
    BOOST_TEST(!f->size(size));
    BOOST_TEST(size == 100u);
    const auto list = disk->unsynced_writes();
    BOOST_TEST_REQUIRE(list.size() == 2u);
    BOOST_TEST((list[0].what == unsynced_write::kind::truncate && list[0].offset == 4u));
    BOOST_TEST((list[1].what == unsynced_write::kind::allocate && list[1].length == 100u));
    BOOST_TEST(text(*disk->power_cut(power_cut_plan::from_bits(0, 0)), dir / "f") == "0123456789");
    BOOST_TEST(text(*disk->power_cut(power_cut_plan::from_bits(1, 0)), dir / "f") == "0123");
    BOOST_TEST(read_file(*disk->power_cut(power_cut_plan::from_bits(2, 0)), dir / "f").size() == 100u);
    const auto both = read_file(*disk->power_cut(power_cut_plan::from_bits(3, 0)), dir / "f");
    BOOST_TEST_REQUIRE(both.size() == 100u);
    BOOST_TEST(as_string(std::span(both).first(4)) == "0123");
    BOOST_TEST(std::all_of(both.begin() + 4, both.end(), [](std::byte b) { return b == std::byte{0}; }));
}

BOOST_AUTO_TEST_CASE(torn_write_keeps_a_prefix_of_its_sectors) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, "");
    const std::vector<std::byte> data(2000, std::byte{0xAB});
    BOOST_TEST(!f->write_at(100, data));  // sectors [100,512) [512,1024) ... [2048,2100)
    BOOST_TEST(disk->sector_count(0, 512) == 5u);
    BOOST_TEST(disk->sector_count(0, 4096) == 1u);

    for (std::size_t prefix = 0; prefix <= 5; ++prefix) {
        power_cut_plan plan;
        plan.tear = sector_tear{0, 512, prefix, {}};
        const auto content = read_file(*disk->power_cut(plan), dir / "f");
        const std::size_t end = prefix == 0 ? 0 : prefix == 5 ? 2100 : 512 * prefix;
        BOOST_TEST(content.size() == end, "prefix " << prefix);
        for (std::size_t i = 0; i < content.size(); ++i) {
            BOOST_TEST_REQUIRE((content[i] == (i < 100 ? std::byte{0} : std::byte{0xAB})), "byte " << i);
        }
    }
    power_cut_plan too_many;
    too_many.tear = sector_tear{0, 512, 6, {}};
    BOOST_CHECK_THROW(disk->power_cut(too_many), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(torn_write_keeps_any_subset_of_its_sectors) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, std::string(5000, 'o'));
    BOOST_TEST(!f->write_at(0, std::vector<std::byte>(4096 + 4096, std::byte{'N'})));
    BOOST_TEST(disk->sector_count(0, 4096) == 2u);
    power_cut_plan plan;
    plan.tear = sector_tear{0, 4096, 0, {false, true}};  // the second sector reached the disk
    const auto content = read_file(*disk->power_cut(plan), dir / "f");
    BOOST_TEST_REQUIRE(content.size() == 8192u);
    BOOST_TEST((content[0] == std::byte{'o'} && content[4095] == std::byte{'o'}));
    BOOST_TEST((content[4096] == std::byte{'N'} && content[8191] == std::byte{'N'}));

    plan.tear = sector_tear{0, 512, 0, {true, false, true}};
    const auto small = read_file(*disk->power_cut(plan), dir / "f");
    BOOST_TEST_REQUIRE(small.size() == 5000u);  // the durable size: no kept sector reaches past it
    BOOST_TEST((small[0] == std::byte{'N'} && small[511] == std::byte{'N'}));
    BOOST_TEST((small[512] == std::byte{'o'} && small[1023] == std::byte{'o'}));
    BOOST_TEST((small[1024] == std::byte{'N'} && small[1535] == std::byte{'N'}));
    BOOST_TEST(small[1536] == std::byte{'o'});
}

BOOST_AUTO_TEST_CASE(garbage_sector_replaces_one_sector_of_a_write) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, std::string(1024, 'o'));
    BOOST_TEST(
        !f->write_at(256, std::vector<std::byte>(512, std::byte{'N'})));  // sectors [256,512) [512,768)
    power_cut_plan plan;  // the write itself is dropped; its second sector holds garbage
    plan.garbage = sector_garbage{0, 512, 1, 42};
    const auto content = read_file(*disk->power_cut(plan), dir / "f");
    BOOST_TEST_REQUIRE(content.size() == 1024u);
    BOOST_TEST(
        std::all_of(content.begin(), content.begin() + 512, [](std::byte b) { return b == std::byte{'o'}; }));
    BOOST_TEST(
        std::all_of(content.begin() + 768, content.end(), [](std::byte b) { return b == std::byte{'o'}; }));
    const auto garbled = std::count_if(content.begin() + 512, content.begin() + 768, [](std::byte b) {
        return b != std::byte{'o'} && b != std::byte{'N'};
    });
    BOOST_TEST(garbled > 200);  // pseudo-random bytes: nearly all differ from both contents
    // The same seed gives the same garbage.
    BOOST_TEST((read_file(*disk->power_cut(plan), dir / "f") == content));
    plan.garbage->sector = 2;
    BOOST_CHECK_THROW(disk->power_cut(plan), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(new_file_vanishes_unless_its_directory_was_synced) {
    auto disk = fresh_disk();
    auto f = create(*disk, dir / "new");
    BOOST_TEST(!f->write_at(0, as_bytes("data")));
    BOOST_TEST(!f->sync());  // the data is durable, the name is not
    BOOST_TEST(disk->volatile_dir_op_count() == 1u);
    BOOST_TEST(!exists(*disk->power_cut(power_cut_plan::drop_all()), dir / "new"));
    BOOST_TEST(text(*disk->power_cut(power_cut_plan::from_bits(0, 1)), dir / "new") == "data");
    BOOST_TEST(!disk->sync_directory(dir));
    BOOST_TEST(disk->volatile_dir_op_count() == 0u);
    BOOST_TEST(text(*disk->power_cut(power_cut_plan::drop_all()), dir / "new") == "data");
}

BOOST_AUTO_TEST_CASE(name_kept_without_synced_data_gives_an_empty_file) {
    auto disk = fresh_disk();
    auto f = create(*disk, dir / "new");
    BOOST_TEST(!f->write_at(0, as_bytes("data")));
    BOOST_TEST(!disk->sync_directory(dir));
    BOOST_TEST(read_file(*disk->power_cut(), dir / "new").empty());
}

BOOST_AUTO_TEST_CASE(rename_may_be_rolled_back_until_the_directory_is_synced) {
    auto disk = fresh_disk();
    durable_file(*disk, "content");
    BOOST_TEST(!disk->rename(dir / "f", dir / "g"));
    BOOST_TEST(names(*disk, dir) == (std::vector<std::string>{"g"}));
    const auto ops = disk->volatile_dir_ops();
    BOOST_TEST_REQUIRE(ops.size() == 1u);
    BOOST_TEST((ops[0].what == volatile_dir_op::kind::rename && ops[0].target == dir / "g"));

    auto rolled_back = disk->power_cut(power_cut_plan::drop_all());
    BOOST_TEST(names(*rolled_back, dir) == (std::vector<std::string>{"f"}));
    BOOST_TEST(text(*rolled_back, dir / "f") == "content");
    BOOST_TEST(names(*disk->power_cut(power_cut_plan::keep_all()), dir) == (std::vector<std::string>{"g"}));
    BOOST_TEST(!disk->sync_directory(dir));
    BOOST_TEST(names(*disk->power_cut(), dir) == (std::vector<std::string>{"g"}));
}

BOOST_AUTO_TEST_CASE(rolled_back_rename_leaves_the_replaced_target) {
    auto disk = fresh_disk();
    durable_file(*disk, "new");
    auto old = create(*disk, dir / "target");
    BOOST_TEST(!old->write_at(0, as_bytes("old")));
    BOOST_TEST(!old->sync());
    BOOST_TEST(!disk->sync_directory(dir));
    BOOST_TEST(!disk->rename(dir / "f", dir / "target"));
    BOOST_TEST(text(*disk, dir / "target") == "new");
    auto rolled_back = disk->power_cut();
    BOOST_TEST(text(*rolled_back, dir / "target") == "old");
    BOOST_TEST(text(*rolled_back, dir / "f") == "new");
    auto kept = disk->power_cut(power_cut_plan::keep_all());
    BOOST_TEST(text(*kept, dir / "target") == "new");
    BOOST_TEST(!exists(*kept, dir / "f"));
}

BOOST_AUTO_TEST_CASE(removed_file_is_resurrected_with_its_durable_content) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, "durable");
    BOOST_TEST(!f->write_at(0, as_bytes("DUR")));  // unsynced
    BOOST_TEST(!disk->remove(dir / "f"));
    BOOST_TEST(!exists(*disk, dir / "f"));
    BOOST_TEST(text(*disk->power_cut(), dir / "f") == "durable");
    BOOST_TEST(text(*disk->power_cut(power_cut_plan::from_bits(1, 0)), dir / "f") == "DURable");
    BOOST_TEST(!exists(*disk->power_cut(power_cut_plan::from_bits(0, 1)), dir / "f"));
    BOOST_TEST(!disk->sync_directory(dir));
    BOOST_TEST(!exists(*disk->power_cut(), dir / "f"));
}

BOOST_AUTO_TEST_CASE(rename_across_directories_needs_both_synced) {
    auto disk = fresh_disk();
    durable_file(*disk, "x");
    BOOST_TEST(!disk->create_directories("/other"));
    BOOST_TEST(!disk->sync_directory("/"));
    BOOST_TEST(!disk->rename(dir / "f", "/other/f"));
    BOOST_TEST(disk->volatile_dir_op_count() == 2u);
    BOOST_TEST(!disk->sync_directory("/other"));
    // The creation in /other is durable, the removal from /log is not: both names survive.
    auto after = disk->power_cut();
    BOOST_TEST(text(*after, dir / "f") == "x");
    BOOST_TEST(text(*after, "/other/f") == "x");
    BOOST_TEST(!disk->sync_directory(dir));
    after = disk->power_cut();
    BOOST_TEST(!exists(*after, dir / "f"));
    BOOST_TEST(text(*after, "/other/f") == "x");
}

BOOST_AUTO_TEST_CASE(failed_fsync_loses_the_writes_and_a_retry_reports_success) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, "old.");
    disk->set_fault_hook(fail_nth(sim_op::sync, 0, eio()));
    BOOST_TEST(!f->write_at(4, as_bytes("lost")));
    BOOST_TEST(f->sync() == std::errc::io_error);
    BOOST_TEST(disk->unsynced_write_count() == 0u);    // marked clean: nothing left to write back
    BOOST_TEST(!f->sync());                            // the retry "succeeds"...
    BOOST_TEST(text(*disk, dir / "f") == "old.lost");  // ...and reads still show the cache
    // ...but no power cut, not even the kindest, brings the lost bytes back.
    BOOST_TEST(text(*disk->power_cut(power_cut_plan::keep_all()), dir / "f") == "old.");
    // Later writes are synced as usual, without the lost ones.
    BOOST_TEST(!f->write_at(8, as_bytes("next")));
    BOOST_TEST(!f->sync());
    const auto after = read_file(*disk->power_cut(), dir / "f");
    BOOST_TEST(as_string(after) == std::string_view("old.\0\0\0\0next", 12));
}

BOOST_AUTO_TEST_CASE(failed_fsync_may_also_evict_the_cache) {
    auto disk = fresh_disk();
    disk->set_failed_sync_keeps_cache(false);
    auto f = durable_file(*disk, "old.");
    std::shared_ptr<const mapped_region> region;
    BOOST_TEST(!f->map(8, region));
    disk->set_fault_hook(fail_nth(sim_op::sync, 0, eio()));
    BOOST_TEST(!f->write_at(4, as_bytes("lost")));
    BOOST_TEST(as_string(region->bytes()) == "old.lost");
    BOOST_TEST(f->sync() == std::errc::io_error);
    BOOST_TEST(text(*disk, dir / "f") == "old.");
    BOOST_TEST(as_string(region->bytes()) == std::string_view("old.\0\0\0\0", 8));
}

BOOST_AUTO_TEST_CASE(capacity_refuses_writes_with_no_space) {
    auto disk = fresh_disk();
    disk->set_capacity(1000);
    auto f = create(*disk, dir / "f");
    BOOST_TEST(!f->write_at(0, std::vector<std::byte>(600)));
    BOOST_TEST(f->write_at(600, std::vector<std::byte>(600)) == errc::no_space);
    BOOST_TEST(disk->used_bytes() == 600u);  // nothing of the refused write was stored
    BOOST_TEST(!f->write_at(0, std::vector<std::byte>(600, std::byte{1})));  // overwriting costs nothing
    BOOST_TEST(f->truncate(2000) == errc::no_space);
    BOOST_TEST(f->allocate(0, 2000) == errc::no_space);
    auto g = create(*disk, dir / "g");
    BOOST_TEST(g->write_at(0, std::vector<std::byte>(401)) == errc::no_space);
    BOOST_TEST(!g->write_at(0, std::vector<std::byte>(400)));
    BOOST_TEST(!disk->remove(dir / "g"));  // removing a file frees its bytes
    BOOST_TEST(disk->used_bytes() == 600u);

    disk->set_capacity(1000, /*partial_writes=*/true);
    BOOST_TEST(f->write_at(600, std::vector<std::byte>(600, std::byte{2})) == errc::no_space);
    BOOST_TEST(file_size(*disk, dir / "f") == 1000u);  // the prefix that fit was stored
    disk->set_capacity(std::nullopt);
    BOOST_TEST(!f->write_at(1000, std::vector<std::byte>(5000)));
}

BOOST_AUTO_TEST_CASE(snapshot_is_independent_of_the_original) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, "durable.");
    BOOST_TEST(!f->write_at(8, as_bytes("pending")));
    auto snap = disk->snapshot();
    BOOST_TEST(!f->write_at(0, as_bytes("LATER")));
    BOOST_TEST(!f->sync());
    BOOST_TEST(!disk->remove(dir / "f"));
    // The snapshot holds the state of its moment, durable and volatile.
    BOOST_TEST(text(*snap, dir / "f") == "durable.pending");
    BOOST_TEST(snap->unsynced_write_count() == 1u);
    BOOST_TEST(text(*snap->power_cut(), dir / "f") == "durable.");
    BOOST_TEST(text(*snap->power_cut(power_cut_plan::keep_all()), dir / "f") == "durable.pending");
    // And can go on by itself.
    auto g = open_rw(*snap, dir / "f");
    BOOST_TEST(!g->write_at(0, as_bytes("SNAP")));
    BOOST_TEST(!exists(*disk, dir / "f"));
    BOOST_TEST(text(*snap, dir / "f") == "SNAPble.pending");
}

BOOST_AUTO_TEST_CASE(fault_hook_fails_an_operation_which_then_does_nothing) {
    auto disk = fresh_disk();
    std::vector<sim_event> seen;
    disk->set_after_hook([&](const sim_event& e, std::error_code) { seen.push_back(e); });
    disk->set_fault_hook(fail_nth(sim_op::write, 1, make_error_code(errc::no_space)));
    auto f = create(*disk, dir / "f");
    BOOST_TEST(!f->write_at(0, as_bytes("one")));
    BOOST_TEST(f->write_at(3, as_bytes("two")) == errc::no_space);
    BOOST_TEST(!f->write_at(3, as_bytes("three")));
    BOOST_TEST_REQUIRE(seen.size() == 4u);
    BOOST_TEST((seen[0].op == sim_op::create && seen[0].path == dir / "f"));
    BOOST_TEST((seen[2].op == sim_op::write && seen[2].offset == 3u && seen[2].length == 3u));
    for (std::size_t i = 1; i < seen.size(); ++i) BOOST_TEST(seen[i].seq == seen[i - 1].seq + 1);
    BOOST_TEST(text(*disk, dir / "f") == "onethree");
    BOOST_TEST(disk->unsynced_write_count() == 2u);

    disk->set_fault_hook(fail_from(sim_op::create, 0, eio()));
    std::unique_ptr<file> g;
    BOOST_TEST(disk->open(dir / "g", open_mode::create_exclusive, g) == std::errc::io_error);
    BOOST_TEST(!exists(*disk, dir / "g"));
    disk->set_fault_hook(fail_from(sim_op::rename, 0, eio()));
    BOOST_TEST(disk->rename(dir / "f", dir / "h") == std::errc::io_error);
    BOOST_TEST(exists(*disk, dir / "f"));
    disk->set_fault_hook({});
    BOOST_TEST(!disk->rename(dir / "f", dir / "h"));
}

BOOST_AUTO_TEST_CASE(after_hook_can_snapshot_the_state_at_the_kth_sync) {
    auto disk = fresh_disk();
    std::shared_ptr<sim_disk> at_second_sync;
    int syncs = 0;
    disk->set_after_hook([&](const sim_event& e, std::error_code ec) {
        if (e.op == sim_op::sync && !ec && ++syncs == 2) at_second_sync = disk->snapshot();
    });
    auto f = durable_file(*disk, "a");  // first sync
    BOOST_TEST(!f->write_at(1, as_bytes("b")));
    BOOST_TEST(!f->sync());
    BOOST_TEST(!f->write_at(2, as_bytes("c")));
    BOOST_TEST(!f->sync());
    BOOST_TEST_REQUIRE(at_second_sync);
    BOOST_TEST(text(*at_second_sync->power_cut(), dir / "f") == "ab");
    BOOST_TEST(text(*disk->power_cut(), dir / "f") == "abc");
}

BOOST_AUTO_TEST_CASE(lock_is_exclusive_and_released_on_destruction) {
    auto disk = fresh_disk();
    std::unique_ptr<directory_lock> first;
    std::unique_ptr<directory_lock> second;
    BOOST_TEST(!disk->lock(dir, first));
    BOOST_TEST(disk->lock(dir, second) == errc::locked);
    BOOST_TEST(names(*disk, dir) == (std::vector<std::string>{"LOCK"}));
    first.reset();
    BOOST_TEST(!disk->lock(dir, second));
    BOOST_TEST(disk->lock("/missing", first) == std::errc::no_such_file_or_directory);
    // A power cut is a reboot: no lock is held afterwards.
    std::unique_ptr<directory_lock> after;
    BOOST_TEST(!disk->power_cut(power_cut_plan::keep_all())->lock(dir, after));
}

BOOST_AUTO_TEST_CASE(mapping_sees_later_writes_and_outlives_the_disk) {
    std::shared_ptr<const mapped_region> region;
    {
        auto disk = fresh_disk();
        auto f = create(*disk, dir / "f");
        BOOST_TEST(!f->write_at(0, as_bytes("abc")));
        BOOST_TEST(!f->map(8, region));
        BOOST_TEST(as_string(region->bytes()) == std::string_view("abc\0\0\0\0\0", 8));
        BOOST_TEST(!f->write_at(2, as_bytes("XYZ")));
        BOOST_TEST(!f->write_at(6, as_bytes("0123")));  // partly past the mapped length
        BOOST_TEST(as_string(region->bytes()) == std::string_view("abXYZ\0"
                                                                  "01",
                                                                  8));
        BOOST_TEST(!f->truncate(1));  // does not shrink the mapping
        BOOST_TEST(region->size() == 8u);
        std::shared_ptr<const mapped_region> empty;
        BOOST_TEST(!f->map(0, empty));
        BOOST_TEST(empty->size() == 0u);
    }
    BOOST_TEST(as_string(region->bytes()) == std::string_view("abXYZ\0"
                                                              "01",
                                                              8));
}

BOOST_AUTO_TEST_CASE(random_power_cuts_are_reproducible) {
    auto disk = fresh_disk();
    auto f = create(*disk, dir / "f");
    BOOST_TEST(!disk->sync_directory(dir));
    for (int i = 0; i < 20; ++i)
        BOOST_TEST(
            !f->write_at(static_cast<std::uint64_t>(i) * 700, std::vector<std::byte>(900, std::byte{1})));
    int differing = 0;
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        const auto a = disk->random_power_cut(seed);
        const auto b = disk->random_power_cut(seed);
        BOOST_TEST((a.keep_writes == b.keep_writes && a.keep_dir_ops == b.keep_dir_ops));
        BOOST_TEST(a.tear.has_value() == b.tear.has_value());
        BOOST_TEST(read_file(*disk->power_cut(a), dir / "f") == read_file(*disk->power_cut(b), dir / "f"));
        if (disk->random_power_cut(seed + 1000).keep_writes != a.keep_writes) ++differing;
    }
    BOOST_TEST(differing > 25);
    power_cut_enumeration options;
    options.samples = 10;
    options.max_tears_per_write = 0;
    BOOST_TEST(for_each_power_cut(
                   *disk, [](const power_cut_plan&) {}, options) == 10u);  // 21 ops: sampled
}

BOOST_AUTO_TEST_CASE(writes_and_syncs_from_two_threads) {
    auto disk = fresh_disk();
    auto f = durable_file(*disk, "");
    std::atomic<bool> done{false};
    std::atomic<int> sync_failures{0};  // Boost.Test assertions are for the main thread only
    std::thread syncer([&] {
        while (!done.load()) {
            if (f->sync()) ++sync_failures;
        }
    });
    for (int i = 0; i < 1000; ++i) {
        const std::vector<std::byte> record(16, std::byte(static_cast<unsigned char>(i)));
        BOOST_REQUIRE(!f->write_at(static_cast<std::uint64_t>(i) * 16, record));
    }
    done = true;
    syncer.join();
    BOOST_TEST(sync_failures.load() == 0);
    BOOST_TEST(!f->sync());
    const auto content = read_file(*disk->power_cut(), dir / "f");
    BOOST_TEST_REQUIRE(content.size() == 16000u);
    for (int i = 0; i < 1000; ++i)
        BOOST_REQUIRE(content[static_cast<std::size_t>(i) * 16] == std::byte(static_cast<unsigned char>(i)));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(a_new_directory_is_durable_only_once_its_parent_is_synced) {
    auto disk = std::make_shared<sim_disk>();
    BOOST_TEST_REQUIRE(!disk->create_directories("/a/b"));
    BOOST_TEST(disk->volatile_dir_op_count() == 2u);  // /a in /, /a/b in /a
    auto f = create(*disk, "/a/b/f");
    BOOST_TEST(!f->write_at(0, std::as_bytes(std::span("x", 1))));
    BOOST_TEST(!f->sync());
    BOOST_TEST(!disk->sync_directory("/a/b"));  // f's entry is durable in /a/b...
    // ... but /a/b itself is not: a power cut may take the directory and f with it.
    bool is_dir = true;
    BOOST_TEST(!disk->power_cut()->is_directory("/a", is_dir));
    BOOST_TEST(!is_dir);
    BOOST_TEST(!exists(*disk->power_cut(), "/a/b/f"));
    // /a kept, /a/b lost: /a/b/f is gone as well.
    BOOST_TEST(!exists(*disk->power_cut(power_cut_plan::from_bits(0, 1)), "/a/b/f"));
    BOOST_TEST(text(*disk->power_cut(power_cut_plan::from_bits(0, 3)), "/a/b/f") == "x");
    BOOST_TEST(!disk->sync_directory("/"));
    BOOST_TEST(!disk->sync_directory("/a"));
    BOOST_TEST(disk->volatile_dir_op_count() == 0u);
    BOOST_TEST(text(*disk->power_cut(), "/a/b/f") == "x");
}
