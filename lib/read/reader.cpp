// noriwal::reader: the public functions, and async_next (waiting at the end of the log).
//
// async_next is one next_op: it tries the reader on the handler's executor (never inside the
// initiating function); at the end of the log it waits, a wal reader in the registry's list of
// tail waiters (the writer strand wakes it when the watermark it reads reaches the LSN it
// needs, or when the log is truncated, cut, or closed), a directory reader on a poll timer,
// and tries again. The op's mutex orders the wait, the wake-up and a cancellation: whoever
// takes the op out of its waiting state completes it.
#include <noriwal/reader.hpp>

#include "read/reader_core.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>

#include <mutex>
#include <optional>

namespace noriwal {

namespace detail {

class next_op final : public tail_waiter, public std::enable_shared_from_this<next_op> {
public:
    next_op(std::shared_ptr<reader_core> core, next_handler h, boost::asio::any_completion_executor at_once)
        : core_(std::move(core)),
          handler_(std::move(h)),
          at_once_(std::move(at_once)),
          ex_(boost::asio::prefer(
              boost::asio::get_associated_executor(
                  handler_, boost::asio::any_completion_executor(std::nothrow, core_->executor())),
              boost::asio::execution::outstanding_work.tracked)) {}

    void start() {
        auto slot = boost::asio::get_associated_cancellation_slot(handler_);
        if (slot.is_connected()) {
            slot.template emplace<cancel_next>(cancel_next{weak_from_this()});
            cancellable_ = true;
        }
        {
            std::lock_guard lk(core_->op_mutex());
            core_->pending = weak_from_this();
        }
        // The first try runs here, on the initiating thread; its result is delivered later.
        attempt(false);
    }

    /// From the registry (the writer strand) or the poll timer: try again on the handler's
    /// executor (inline if this thread already runs it: then the handler has no executor of
    /// its own and the wal's writer thread is its default).
    void wake() override {
        {
            std::lock_guard lk(m_);
            if (state_ != state::waiting) return;
            state_ = state::running;
        }
        auto self = shared_from_this();
        ex_.execute([self] { self->attempt(true); });
    }

    /// Any thread.
    void cancel() {
        {
            std::lock_guard lk(m_);
            if (state_ == state::done) return;
            cancel_requested_ = true;
            if (state_ != state::waiting) return;  // the running attempt sees the request
            if (!core_->is_directory() && !core_->remove_waiter(this))
                return;  // being woken: the attempt sees it
            if (timer_) timer_->cancel();
            state_ = state::done;
        }
        deliver_later(boost::asio::error::operation_aborted, entry{});
    }

private:
    enum class state : std::uint8_t { running, waiting, done };

    struct cancel_next {
        std::weak_ptr<next_op> op;
        void operator()(boost::asio::cancellation_type type) const {
            using ct = boost::asio::cancellation_type;
            if ((type & (ct::terminal | ct::partial | ct::total)) == ct::none) return;
            if (auto o = op.lock()) o->cancel();
        }
    };

    // `on_handler_executor`: the handler may be invoked right here.
    void attempt(bool on_handler_executor) {
        bool cancelled = false;
        {
            std::lock_guard lk(m_);
            cancelled = cancel_requested_;
            if (cancelled) state_ = state::done;
        }
        if (cancelled) {
            finish(on_handler_executor, boost::asio::error::operation_aborted, entry{});
            return;
        }
        std::error_code ec;
        std::optional<entry> e = core_->try_next(ec);
        std::unique_lock lk(m_);
        if (e || ec != errc::end_of_log || cancel_requested_) {
            state_ = state::done;
            const bool aborted = !e && ec == errc::end_of_log;
            lk.unlock();
            finish(on_handler_executor,
                   aborted ? boost::system::error_code(boost::asio::error::operation_aborted)
                           : boost::system::error_code(ec),
                   e ? std::move(*e) : entry{});
            return;
        }
        state_ = state::waiting;
        if (core_->is_directory()) {
            if (!timer_) timer_.emplace(core_->executor());
            timer_->expires_after(core_->options().poll_interval);
            timer_->async_wait([self = shared_from_this()](const boost::system::error_code& tec) {
                if (!tec) self->wake();
            });
            return;
        }
        // Registered under m_, so that a cancellation sees either the op registered (and
        // removes it) or running (and leaves it to this attempt).
        if (!core_->add_waiter(shared_from_this())) {
            state_ = state::running;  // the log changed meanwhile: look again
            lk.unlock();
            auto self = shared_from_this();
            later([self] { self->attempt(true); });
        }
    }

    void finish(bool on_handler_executor, const boost::system::error_code& ec, entry e) {
        if (on_handler_executor) {
            deliver(ec, std::move(e));
        } else {
            deliver_later(ec, std::move(e));
        }
    }

    // Runs `f` on the handler's executor, never inside the initiating function (nor inside
    // the emission of a cancellation signal): posted there when the handler's executor can
    // promise not to run it inline, otherwise through the reader's executor first.
    template <class F>
    void later(F&& f) {
        if (at_once_) {
            at_once_.execute(std::forward<F>(f));
            return;
        }
        boost::asio::post(core_->executor(), [self = shared_from_this(), f = std::forward<F>(f)]() mutable {
            self->ex_.execute(std::move(f));
        });
    }

    void deliver_later(const boost::system::error_code& ec, entry e) {
        later(
            [self = shared_from_this(), ec, e = std::move(e)]() mutable { self->deliver(ec, std::move(e)); });
    }

    void deliver(const boost::system::error_code& ec, entry e) {
        {
            std::lock_guard lk(core_->op_mutex());
            if (core_->pending.lock().get() == this) core_->pending.reset();
        }
        // We run on the handler's executor, where its cancellation signal is emitted: clearing
        // the slot here cannot race with an emission.
        auto h = std::move(handler_);
        if (cancellable_) boost::asio::get_associated_cancellation_slot(h).clear();
        timer_.reset();
        auto work = std::move(ex_);  // outstanding work ends after the handler has run
        std::move(h)(ec, std::move(e));
    }

    std::shared_ptr<reader_core> core_;
    next_handler handler_;
    boost::asio::any_completion_executor at_once_;  // may be empty; tracks no work (ex_ does)
    boost::asio::any_completion_executor ex_;
    std::mutex m_;
    state state_ = state::running;
    bool cancel_requested_ = false;
    bool cancellable_ = false;
    std::optional<boost::asio::steady_timer> timer_;
};

void start_next(const std::shared_ptr<reader_core>& core, next_handler h,
                boost::asio::any_completion_executor at_once) {
    if (!core) {
        boost::asio::post(boost::asio::system_executor(), [h = std::move(h)]() mutable {
            auto ex = boost::asio::get_associated_executor(h, boost::asio::system_executor());
            ex.execute([h = std::move(h)]() mutable {
                std::move(h)(boost::system::error_code(errc::closed), entry{});
            });
        });
        return;
    }
    std::make_shared<next_op>(core, std::move(h), std::move(at_once))->start();
}

}  // namespace detail

namespace {

std::error_code empty_reader() { return errc::closed; }

[[noreturn]] void throw_error(const std::error_code& ec, const char* what) {
    throw std::system_error(ec, what);
}

/// `read(*core)`, or errc::closed for an empty reader.
template <class Read>
std::optional<entry> read_with(detail::reader_core* core, std::error_code& ec, Read read) {
    if (core == nullptr) {
        ec = empty_reader();
        return std::nullopt;
    }
    return read(*core);
}

/// What a throwing overload does with `ec`, set by the read it made: throws unless it is clear
/// or `quiet` (the end that the overload reports as nullopt). The overload returns its entry
/// itself, so that the entry is not moved once more per record.
void throw_unless(const std::error_code& ec, errc quiet, const char* what) {
    if (ec && ec != quiet) throw_error(ec, what);
}

}  // namespace

reader::reader() noexcept = default;

reader::reader(std::shared_ptr<detail::reader_core> core) noexcept : core_(std::move(core)) {}

reader::~reader() { cancel(); }

reader::reader(reader&& other) noexcept = default;

reader& reader::operator=(reader&& other) noexcept {
    if (this != &other) {
        cancel();
        core_ = std::move(other.core_);
    }
    return *this;
}

reader reader::open_directory(executor_type ex, const std::filesystem::path& dir, reader_options opts) {
    std::shared_ptr<detail::reader_core> core;
    if (auto ec = detail::reader_core::open_directory(dir, std::move(opts), std::move(ex), core))
        throw_error(ec, ("cannot read log directory " + dir.string()).c_str());
    return reader(std::move(core));
}

reader reader::open_directory(const std::filesystem::path& dir, reader_options opts) {
    return open_directory(executor_type(boost::asio::system_executor()), dir, std::move(opts));
}

reader reader::open_directory(const std::filesystem::path& dir, const reader_options& opts,
                              std::error_code& ec) {
    std::shared_ptr<detail::reader_core> core;
    ec = detail::reader_core::open_directory(dir, opts, executor_type(boost::asio::system_executor()), core);
    return reader(std::move(core));
}

std::error_code reader::seek_start() { return core_ ? core_->seek_start() : empty_reader(); }
std::error_code reader::seek_end() { return core_ ? core_->seek_end() : empty_reader(); }
std::error_code reader::seek(lsn_t lsn) { return core_ ? core_->seek(lsn) : empty_reader(); }
std::error_code reader::seek(const position& p) { return core_ ? core_->seek(p) : empty_reader(); }
position reader::tell() const noexcept { return core_ ? core_->tell() : position{}; }

std::optional<entry> reader::try_next(std::error_code& ec) {
    return read_with(core_.get(), ec, [&](detail::reader_core& c) { return c.try_next(ec); });
}

std::optional<entry> reader::try_next() {
    std::error_code ec;
    std::optional<entry> e = try_next(ec);
    throw_unless(ec, errc::end_of_log, "noriwal::reader::try_next");
    return e;
}

std::optional<entry> reader::next(std::error_code& ec) {
    return read_with(core_.get(), ec, [&](detail::reader_core& c) { return c.next(ec); });
}

std::optional<entry> reader::next() {
    std::error_code ec;
    std::optional<entry> e = next(ec);
    throw_unless(ec, errc::closed, "noriwal::reader::next");
    return e;
}

void reader::cancel() {
    if (!core_) return;
    std::shared_ptr<detail::next_op> op;
    {
        std::lock_guard lk(core_->op_mutex());
        op = core_->pending.lock();
    }
    if (op) op->cancel();
}

std::optional<entry> reader::read_at(const position& p, std::error_code& ec) {
    return read_with(core_.get(), ec, [&](detail::reader_core& c) { return c.read_at(p, ec); });
}

entry reader::read_at(const position& p) {
    std::error_code ec;
    auto e = read_at(p, ec);
    if (ec) throw_error(ec, "noriwal::reader::read_at");
    return std::move(*e);
}

reader::executor_type reader::get_executor() const noexcept {
    return core_ ? core_->executor() : executor_type(boost::asio::system_executor());
}

const reader_options& reader::options() const noexcept {
    static const reader_options defaults;
    return core_ ? core_->options() : defaults;
}

}  // namespace noriwal
