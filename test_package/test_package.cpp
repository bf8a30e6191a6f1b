// Smallest program built against an installed noriwal: Conan's test_package, and the consumer the
// package tests (test/package/) build with find_package, pkg-config and FetchContent.
// It exits 0 only when the headers and the library agree with the package it was built from,
// and a wal opened in a temporary directory gives back, after reopening, the LZ4- and
// Zstd-compressed records it was given (which links Boost.Asio's needs, liblz4 and libzstd).
#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>
#include <noriwal/version.hpp>
#include <noriwal/wal.hpp>

#include <stdlib.h>  // mkdtemp

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <system_error>

namespace {

// Appends two compressed records, reopens the log and reads them back. Returns an error
// message, empty on success.
std::string round_trip(const std::filesystem::path& dir) {
    const std::string value(4096, 'x');  // compressible: stored compressed, not raw
    noriwal::wal_config cfg;
    cfg.dir = dir;
    {
        auto log = noriwal::wal::open(cfg).log;
        log.append(noriwal::record::put("lz4", value).with_compression(noriwal::compression::lz4));
        log.append(noriwal::record::put("zstd", value).with_compression(noriwal::compression::zstd),
                   noriwal::durability::always());
        log.close();
    }
    auto [log, recovered] = noriwal::wal::open(cfg);
    if (recovered.valid_records != 2)
        return "reopen recovered " + std::to_string(recovered.valid_records) + " records";
    auto r = log.make_reader();
    for (const auto& [key, how] :
         {std::pair{"lz4", noriwal::compression::lz4}, {"zstd", noriwal::compression::zstd}}) {
        auto e = r.try_next();
        if (!e) return std::string("record ") + key + " is missing";
        if (noriwal::as_string(e->key()) != key || noriwal::as_string(e->value()) != value)
            return std::string("record ") + key + " came back different";
        if (e->stored_compression() != how)
            return std::string("record ") + key + " was not stored compressed";
    }
    log.close();
    return {};
}

}  // namespace

int main() {
    // The error category is compiled into libnoriwal: this proves the library links.
    const std::error_code ec = make_error_code(noriwal::errc::no_space);
    const std::string message = ec.message();
    std::printf("noriwal %s (format %d.%d): %s: %s\n", NORIWAL_VERSION_STRING, NORIWAL_FORMAT_VERSION_MAJOR,
                NORIWAL_FORMAT_VERSION_MINOR, ec.category().name(), message.c_str());
    if (std::string(ec.category().name()) != "noriwal" || message.find("space") == std::string::npos) {
        std::fprintf(stderr, "unexpected error category or message\n");
        return 1;
    }
#ifdef NORIWAL_PACKAGE_VERSION
    // The build system's idea of the version (find_package's noriwal_VERSION, pkg-config's
    // modversion) must be the one the installed headers carry.
    if (std::string(NORIWAL_PACKAGE_VERSION) != NORIWAL_VERSION_STRING) {
        std::fprintf(stderr, "package version %s but headers say %s\n", NORIWAL_PACKAGE_VERSION,
                     NORIWAL_VERSION_STRING);
        return 1;
    }
#endif

    std::string templ = (std::filesystem::temp_directory_path() / "noriwal-test-package-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    std::string failure;
    try {
        failure = round_trip(templ);
    } catch (const std::exception& e) {
        failure = e.what();
    }
    std::error_code ignored;
    std::filesystem::remove_all(templ, ignored);
    if (!failure.empty()) {
        std::fprintf(stderr, "wal round trip failed: %s\n", failure.c_str());
        return 1;
    }
    std::printf("wal round trip: lz4 and zstd records recovered\n");
    return 0;
}
