// The reading members of noriwal::wal: readers and the key index, both served by the wal's
// segment registry.
#include <noriwal/wal.hpp>

#include <read/reader_core.hpp>
#include <wal/wal_core.hpp>

#include <system_error>

namespace noriwal {

namespace {

const std::shared_ptr<detail::segment_registry>& registry_of(const std::shared_ptr<detail::wal_core>& core) {
    if (!core || !core->registry()) throw std::system_error(errc::closed, "noriwal::wal: the wal is empty");
    return core->registry();
}

const detail::segment_registry& index_of(const std::shared_ptr<detail::wal_core>& core) {
    const auto& r = registry_of(core);
    if (!r->indexes_keys())
        throw std::system_error(
            errc::invalid_argument,
            "noriwal::wal: the key index is off; open the wal with wal_config::index_keys = true");
    return *r;
}

}  // namespace

reader wal::make_reader(reader_options opts) const {
    const auto& reg = registry_of(core_);
    return detail::reader_access::make(
        std::make_shared<detail::reader_core>(reg, std::move(opts), core_->get_executor()));
}

reader wal::read_from(const position& p, reader_options opts) const {
    reader r = make_reader(std::move(opts));
    if (auto ec = r.seek(p)) throw std::system_error(ec, "noriwal::wal::read_from");
    return r;
}

std::vector<std::string> wal::keys() const { return index_of(core_).keys(); }

std::vector<position> wal::records_for(bytes_view key) const { return index_of(core_).records_for(key); }

std::optional<position> wal::latest(bytes_view key) const { return index_of(core_).latest(key); }

}  // namespace noriwal
