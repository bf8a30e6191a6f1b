// Recipe: a persistent message queue with consumer offsets and retention (doc/recipes.md,
// "A message queue with consumer offsets").
//
// The producer appends messages; their LSNs are the queue's offsets. Each consumer reads from
// its own committed offset (the LSN of the last message it finished with, kept in a small
// file of its own) and commits as it goes. Segments are deleted once every consumer has
// committed past them: delete_segments_before the slowest consumer's next offset. Delivery is
// at least once: what a consumer read but did not commit is delivered again after a restart.
//
//   recipe_message_queue [parent-directory]
#include "recipe.hpp"

#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

namespace {

using noriwal::lsn_t;

// ------------------------------------------------------------------ committed offsets

// One small file per consumer holding its committed LSN in decimal. A commit writes a
// temporary file, fsyncs it and renames it over the old one (then fsyncs the directory), so
// that after a crash the file holds either the old offset or the new one.
class offset_file {
public:
    explicit offset_file(std::filesystem::path dir) : dir_(std::move(dir)) {
        std::filesystem::create_directories(dir_);
    }

    lsn_t load(const std::string& consumer) const {
        std::ifstream in(dir_ / consumer);
        lsn_t committed = 0;  // a consumer never seen starts before the first message
        in >> committed;
        return committed;
    }

    void store(const std::string& consumer, lsn_t committed) const {
        const auto tmp = dir_ / (consumer + ".tmp");
        const std::string text = std::to_string(committed) + "\n";
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + tmp.string());
        const bool ok =
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
        const int err = errno;
        ::close(fd);
        if (!ok) throw std::system_error(err, std::generic_category(), "write " + tmp.string());
        std::filesystem::rename(tmp, dir_ / consumer);
        const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
    }

    /// Every consumer that ever committed, with its offset.
    std::vector<std::pair<std::string, lsn_t>> all() const {
        std::vector<std::pair<std::string, lsn_t>> out;
        for (const auto& f : std::filesystem::directory_iterator(dir_)) {
            if (f.path().extension() == ".tmp") continue;
            const std::string name = f.path().filename().string();
            out.emplace_back(name, load(name));
        }
        return out;
    }

private:
    std::filesystem::path dir_;
};

// ------------------------------------------------------------------ the queue

struct message {
    lsn_t offset;
    std::string body;
};

class queue {
public:
    /// The log in base/log, the offsets in base/offsets.
    explicit queue(const std::filesystem::path& base) : offsets_(base / "offsets") {
        noriwal::wal_config cfg;
        cfg.dir = base / "log";
        cfg.max_segment_size = 8u << 10;  // small, so that retention has segments to delete
        cfg.max_record_size = 4u << 10;
        cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(2));
        log_ = noriwal::wal::open(std::move(cfg)).log;
    }

    /// Appends a message; its LSN is its offset.
    lsn_t produce(const std::string& body) { return log_.append(noriwal::record::put("", body)).lsn; }

    class consumer {
    public:
        /// Reads up to `max` messages after the last one read (without waiting for more).
        std::vector<message> poll(std::size_t max) {
            std::vector<message> out;
            while (out.size() < max) {
                auto e = reader_.try_next();
                if (!e) break;  // the end of the queue for now
                out.push_back({e->lsn(), std::string(e->value())});
            }
            return out;
        }
        /// Marks every message up to `offset` as done: it will not be delivered again.
        void commit(lsn_t offset) {
            q_->offsets_.store(name_, offset);
            committed_ = offset;
        }
        lsn_t committed() const noexcept { return committed_; }
        /// How many messages this consumer missed because retention deleted them first.
        lsn_t lost() const noexcept { return lost_; }

    private:
        friend class queue;
        consumer(queue* q, std::string name) : q_(q), name_(std::move(name)) {
            committed_ = q_->offsets_.load(name_);
            reader_ = q_->log_.make_reader();
            const std::error_code ec = reader_.seek(committed_ + 1);
            if (ec == noriwal::errc::not_found) {
                // Deleted before this consumer read it: the reader now stands at the oldest
                // message that is left. Say how much was lost rather than hide it.
                lost_ = reader_.tell().lsn - (committed_ + 1);
            } else if (ec) {
                throw std::system_error(ec, "seek to the committed offset of " + name_);
            }
        }
        queue* q_;
        std::string name_;
        noriwal::reader reader_;
        lsn_t committed_ = 0;
        lsn_t lost_ = 0;
    };

    /// A consumer resumes after its committed offset (from the start if it never committed).
    consumer subscribe(const std::string& name) { return consumer(this, name); }

    /// Deletes every segment that all consumers are done with. Returns how many.
    std::uint64_t apply_retention() {
        lsn_t slowest = std::numeric_limits<lsn_t>::max();
        for (const auto& [name, committed] : offsets_.all()) slowest = std::min(slowest, committed);
        if (slowest == std::numeric_limits<lsn_t>::max()) return 0;  // no consumer yet: keep all
        // Only the LSN of the position matters: segments whose records all lie below it go.
        noriwal::position keep_from;
        keep_from.lsn = slowest + 1;
        return log_.delete_segments_before(keep_from);
    }

    /// The oldest offset still stored (0: the queue is empty).
    lsn_t oldest() const {
        auto r = log_.make_reader();
        auto e = r.try_next();
        return e ? e->lsn() : 0;
    }

private:
    noriwal::wal log_;
    offset_file offsets_;
};

std::string body_of(lsn_t offset) {
    return "message " + std::to_string(offset) + std::string(offset % 40, '*');
}

// Consumes everything there is, checking that offsets follow `expected_next` without a gap
// and that every body is the one produced; commits after each chunk. Returns the next offset.
lsn_t drain(queue::consumer& c, lsn_t expected_next, const std::string& who) {
    for (;;) {
        const auto chunk = c.poll(100);
        if (chunk.empty()) return expected_next;
        for (const message& m : chunk) {
            recipe::check(m.offset == expected_next, who + " gets offset " + std::to_string(expected_next) +
                                                         ", not " + std::to_string(m.offset));
            recipe::check(m.body == body_of(m.offset),
                          who + " gets the body produced at " + std::to_string(m.offset));
            ++expected_next;
        }
        c.commit(chunk.back().offset);
    }
}

}  // namespace

int main(int argc, char** argv) {
    return recipe::run(argc, argv, "recipe-message-queue", [](const std::filesystem::path& dir) {
        {
            queue q(dir);
            for (lsn_t i = 1; i <= 3000; ++i)
                recipe::check(q.produce(body_of(i)) == i, "offsets count from 1");

            auto billing = q.subscribe("billing");
            recipe::check(drain(billing, 1, "billing") == 3001, "billing read all 3000 messages");

            {
                auto audit = q.subscribe("audit");
                lsn_t next = 1;
                while (next <= 1000) {
                    const auto chunk = audit.poll(std::min<std::size_t>(100, 1001 - next));
                    for (const message& m : chunk) recipe::check(m.offset == next++, "audit reads in order");
                    audit.commit(chunk.back().offset);
                }
                recipe::check(audit.poll(50).size() == 50, "audit reads 50 more");
                // ... and stops before committing them (a crash, say).
            }

            const std::uint64_t deleted = q.apply_retention();
            std::cout << "retention deleted " << deleted << " segments; oldest offset now " << q.oldest()
                      << "\n";
            recipe::check(deleted > 0, "segments that both consumers are done with are deleted");
            recipe::check(q.oldest() > 1 && q.oldest() <= 1001, "nothing audit has not committed is deleted");

            // audit restarts after its committed offset: the 50 uncommitted messages come again.
            auto audit = q.subscribe("audit");
            recipe::check(audit.committed() == 1000 && audit.lost() == 0, "audit resumes at offset 1001");
            recipe::check(drain(audit, 1001, "audit") == 3001, "audit read the rest");

            // A consumer that never committed asks for offset 1, which retention deleted.
            auto late = q.subscribe("late");
            recipe::check(late.lost() == q.oldest() - 1, "a consumer behind retention is told what it lost");
            recipe::check(drain(late, q.oldest(), "late") == 3001, "late reads what is left");
        }

        // Restart everything: the log and the offsets come back, nothing is delivered twice.
        queue q(dir);
        auto billing = q.subscribe("billing");
        auto audit = q.subscribe("audit");
        recipe::check(billing.poll(10).empty() && audit.poll(10).empty(),
                      "after restart, no message is redelivered");
        for (lsn_t i = 3001; i <= 3500; ++i) recipe::check(q.produce(body_of(i)) == i, "offsets continue");
        recipe::check(drain(billing, 3001, "billing") == 3501, "billing gets the new messages");
        recipe::check(drain(audit, 3001, "audit") == 3501, "audit gets the new messages");
        auto late = q.subscribe("late");
        recipe::check(drain(late, 3001, "late") == 3501, "late gets the new messages");
        const std::uint64_t deleted = q.apply_retention();
        recipe::check(deleted > 0, "everyone is done with the old segments");
        // Only the active segment is left: it holds the newest messages (never deleted).
        recipe::check(q.oldest() > 3000 && q.oldest() <= 3500, "retention kept only the active segment");
        std::cout << "after restart retention deleted " << deleted << " segments; oldest offset now "
                  << q.oldest() << "\n";
    });
}
