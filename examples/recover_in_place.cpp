// Recovering in place after a failed write or fdatasync (doc/api.md, "After a failure").
//
// A failure poisons the wal: the failing append completes with the failure (errc::io_failed or
// errc::no_space: its record is in doubt, present or not after a reopen), every later one with
// errc::poisoned (never written). A server recovers without restarting: it closes the wal,
// opens the same directory again (recovery decides what the log holds), and makes its readers
// again from the new wal, at the first LSN they have not consumed. Readers of the old wal keep
// working up to its end and then report errc::closed: they must be made again, they never
// follow the new wal by themselves. Appends that were in doubt are resolved by reading: the
// reopened log holds them or not.
//
// To show it without breaking a disk, this example runs the wal on a file system that fails one
// fdatasync on purpose.
//
//   example_recover_in_place [directory]  (default: noriwal-example-recover in the temp directory)
#include <noriwal/error.hpp>
#include <noriwal/file_system.hpp>
#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <iostream>
#include <string>

namespace {

// The real file system, except that the fdatasync number `fail_at` (counting from 0) fails
// with EIO, as a disk's write-back error would.
class failing_fs final : public noriwal::file_system {
public:
    explicit failing_fs(int fail_at) : fail_at_(fail_at) {}

    std::error_code open(const std::filesystem::path& p, noriwal::open_mode mode,
                         std::unique_ptr<noriwal::file>& out) override {
        std::unique_ptr<noriwal::file> f;
        if (auto ec = real_->open(p, mode, f)) return ec;
        out = std::make_unique<failing_file>(std::move(f), *this);
        return {};
    }
    std::error_code list(const std::filesystem::path& d, std::vector<std::string>& names) override {
        return real_->list(d, names);
    }
    std::error_code create_directories(const std::filesystem::path& d) override {
        return real_->create_directories(d);
    }
    std::error_code is_directory(const std::filesystem::path& d, bool& out) override {
        return real_->is_directory(d, out);
    }
    std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
        return real_->rename(from, to);
    }
    std::error_code remove(const std::filesystem::path& p) override { return real_->remove(p); }
    std::error_code sync_directory(const std::filesystem::path& d) override {
        return real_->sync_directory(d);
    }
    std::error_code lock(const std::filesystem::path& d,
                         std::unique_ptr<noriwal::directory_lock>& out) override {
        return real_->lock(d, out);
    }

private:
    class failing_file final : public noriwal::file {
    public:
        failing_file(std::unique_ptr<noriwal::file> f, failing_fs& fs) : f_(std::move(f)), fs_(fs) {}
        std::error_code write_at(std::uint64_t o, std::span<const std::byte> d) override {
            return f_->write_at(o, d);
        }
        std::error_code write_at(std::uint64_t o, std::span<const std::span<const std::byte>> b) override {
            return f_->write_at(o, b);
        }
        std::error_code read_at(std::uint64_t o, std::span<std::byte> out, std::size_t& got) override {
            return f_->read_at(o, out, got);
        }
        std::error_code sync() override {
            if (fs_.syncs_.fetch_add(1) == fs_.fail_at_) return {EIO, std::system_category()};
            return f_->sync();
        }
        std::error_code size(std::uint64_t& out) override { return f_->size(out); }
        std::error_code truncate(std::uint64_t s) override { return f_->truncate(s); }
        std::error_code allocate(std::uint64_t o, std::uint64_t l) override { return f_->allocate(o, l); }
        std::error_code map(std::uint64_t len, std::shared_ptr<const noriwal::mapped_region>& out) override {
            return f_->map(len, out);
        }

    private:
        std::unique_ptr<noriwal::file> f_;
        failing_fs& fs_;
    };

    std::shared_ptr<noriwal::file_system> real_ = noriwal::posix_file_system();
    std::atomic<int> syncs_{0};
    int fail_at_;
};

}  // namespace

int main(int argc, char** argv) try {
    noriwal::wal_config cfg;
    cfg.dir = argc > 1 ? std::filesystem::path(argv[1])
                       : std::filesystem::temp_directory_path() / "noriwal-example-recover";
    std::filesystem::remove_all(cfg.dir);
    cfg.max_segment_size = 1u << 20;
    cfg.max_record_size = 64u << 10;
    cfg.fsync = noriwal::fsync_policy::always();
    cfg.prealloc = noriwal::preallocation::none;
    auto fs = std::make_shared<failing_fs>(8);  // a few appends succeed, then one fdatasync fails
    cfg.fs = fs;

    auto log = noriwal::wal::open(cfg).log;
    // The consumer reads only durable records: it never sees a record that a failure could
    // leave in doubt.
    noriwal::reader_options durable_only;
    durable_only.visible = noriwal::visibility::durable;
    noriwal::reader consumer = log.make_reader(durable_only);
    noriwal::lsn_t consumed = 0;  // the last LSN the consumer has handled

    for (int i = 0; i < 20; ++i) {
        const std::string key = "order:" + std::to_string(i);
        std::error_code ec;
        try {
            log.append(noriwal::record::put(key, "paid"));
        } catch (const std::system_error& e) {
            ec = e.code();
        }
        if (ec) {
            // io_failed / no_space: this append is in doubt. poisoned: it was never written.
            std::cout << key << ": " << ec.message()
                      << (ec == noriwal::errc::poisoned ? " (not written)" : " (in doubt)") << "\n";
            // Recover in place: close (it reports the failure again), open, make readers again.
            try {
                log.close();
            } catch (const std::system_error&) {
            }
            auto reopened = noriwal::wal::open(cfg);
            log = std::move(reopened.log);
            std::cout << "reopened: the log holds LSN " << reopened.recovery.first_lsn << ".."
                      << reopened.recovery.last_lsn << "\n";
            consumer = log.make_reader(durable_only);
            if (consumed != 0) {
                if (auto sec = consumer.seek(consumed + 1)) throw std::system_error(sec, "seek");
            }
            // In doubt: the reopened log decides. (Only the last record can be this one here,
            // since appends are awaited one at a time.)
            bool present = false;
            if (ec != noriwal::errc::poisoned && reopened.recovery.last_lsn != 0) {
                noriwal::reader check = log.make_reader();
                if (!check.seek(reopened.recovery.last_lsn))
                    if (auto e = check.try_next()) present = noriwal::as_string(e->key()) == key;
            }
            std::cout << key
                      << (present ? " is in the log after all: not retried\n"
                                  : " is not in the log: retried\n");
            if (!present) --i;
            continue;
        }
        while (auto e = consumer.try_next()) {
            consumed = e->lsn();
            std::cout << "consumed LSN " << consumed << " " << noriwal::as_string(e->key()) << "\n";
        }
    }
    log.close();
    std::cout << "done: " << consumed << " records consumed\n";
    return 0;
} catch (const std::exception& ex) {
    std::cerr << "example_recover_in_place: " << ex.what() << "\n";
    return 1;
}
