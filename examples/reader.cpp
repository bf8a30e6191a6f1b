// Reading a log: scan it from the start, jump to an LSN, read one record by its position, and
// ask the key index for a key's latest value. Entries are views into the mapped segment files:
// nothing is copied.
//
//   example_reader [directory]     (default: noriwal-example-reader in the temp directory)
#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <filesystem>
#include <iostream>
#include <string>

int main(int argc, char** argv) try {
    noriwal::wal_config cfg;
    cfg.dir = argc > 1 ? std::filesystem::path(argv[1])
                       : std::filesystem::temp_directory_path() / "noriwal-example-reader";
    cfg.max_segment_size = 4u << 20;
    cfg.max_record_size = 1u << 20;
    cfg.index_keys = true;  // keys(), records_for(), latest()
    auto log = noriwal::wal::open(cfg).log;

    // Some records to read: three users, one of them deleted, one updated.
    log.append(noriwal::record::put("user:1", "alice"));
    const noriwal::position bob = log.append(noriwal::record::put("user:2", "bob"));
    log.append(noriwal::record::put("user:3", "carol"));
    log.append(noriwal::record::put_tombstone("user:2"));
    log.append(noriwal::record::put("user:1", "alice@example.com"));

    // A scan of everything the log holds now (this run's records and earlier runs').
    noriwal::reader r = log.make_reader();
    std::size_t n = 0;
    while (auto e = r.try_next()) {
        ++n;
        std::cout << "LSN " << e->lsn() << "  " << noriwal::as_string(e->key()) << " = "
                  << (e->tombstone() ? "<deleted>" : std::string(e->value())) << "\n";
    }
    std::cout << n << " records\n";

    // Back to one LSN: the reader finds its segment by base LSN and its offset by a short scan.
    if (auto ec = r.seek(bob.lsn)) throw std::system_error(ec, "seek");
    std::cout << "from LSN " << bob.lsn << ": " << noriwal::as_string(r.try_next()->key()) << "\n";

    // One record by its position, checked (its LSN must be at that place).
    const noriwal::entry e = r.read_at(bob);
    std::cout << "at segment " << bob.segment_id << " offset " << bob.offset << ": "
              << noriwal::as_string(e.value()) << "\n";

    // The key index: user:2's newest record is a tombstone, so it has no latest value.
    for (const std::string key : {"user:1", "user:2"}) {
        if (auto p = log.latest(key)) {
            std::cout << key << " latest: " << noriwal::as_string(r.read_at(*p).value()) << " ("
                      << log.records_for(key).size() << " records)\n";
        } else {
            std::cout << key << " is deleted\n";
        }
    }
    std::cout << log.keys().size() << " live keys\n";
    log.close();
    return 0;
} catch (const std::exception& ex) {
    std::cerr << "example_reader: " << ex.what() << "\n";
    return 1;
}
