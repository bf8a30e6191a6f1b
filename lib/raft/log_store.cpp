// The raft log store (log_store.hpp has the contract and the files).
#include "log_store.hpp"

namespace noriwal::raft {

struct log_store::state {};

log_store::log_store(std::unique_ptr<state> s) : s_(std::move(s)) {}
log_store::~log_store() = default;

std::unique_ptr<log_store> log_store::open(boost::asio::any_io_executor, log_store_options) {
    return std::unique_ptr<log_store>(new log_store(std::make_unique<state>()));
}

int log_store::load(raft_term*, raft_id*, raft_snapshot**, raft_index*, raft_entry**, std::size_t*,
                    std::string& errmsg) {
    errmsg = "not implemented yet";
    return RAFT_IOERR;
}
int log_store::bootstrap(const raft_configuration&, std::string&) { return RAFT_IOERR; }
int log_store::recover(const raft_configuration&, std::string&) { return RAFT_IOERR; }
int log_store::set_term(raft_term, std::string&) { return RAFT_IOERR; }
int log_store::set_vote(raft_id, std::string&) { return RAFT_IOERR; }
int log_store::append(const raft_entry[], unsigned, std::function<void(int)>) { return RAFT_IOERR; }
int log_store::truncate(raft_index) { return RAFT_IOERR; }
int log_store::snapshot_put(unsigned, const raft_snapshot&, std::function<void(int)>) { return RAFT_IOERR; }
int log_store::snapshot_get(std::function<void(int, raft_snapshot*)>) { return RAFT_IOERR; }
std::error_code log_store::failure() const { return {}; }
void log_store::close(std::function<void()>) {}

}  // namespace noriwal::raft
