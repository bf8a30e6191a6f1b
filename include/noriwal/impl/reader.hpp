// Template bodies of noriwal::reader (include/noriwal/reader.hpp).
#pragma once

#include <utility>

namespace noriwal {

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, entry)) CompletionToken>
auto reader::async_next(CompletionToken&& token) {
    // The handler is type-erased and handed to the compiled core, which keeps its associated
    // executor, allocator and cancellation slot.
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, entry)>(
        [](auto handler, std::shared_ptr<detail::reader_core> core) {
            detail::start_next(core, detail::next_handler(std::move(handler)));
        },
        token, core_);
}

}  // namespace noriwal
