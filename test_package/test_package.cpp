// Smallest program built against an installed noriwal: Conan's test_package, and the consumer the
// package tests (test/package/) build with find_package, pkg-config and FetchContent.
// It exits 0 only when the headers and the library agree with the package it was built from.
#include <noriwal/error.hpp>
#include <noriwal/version.hpp>

#include <cstdio>
#include <string>
#include <system_error>

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

    // TODO(when the wal exists): open a wal in a temporary directory, append one record with
    // durability::sync, reopen it and read the record back. That exercises the Asio, lz4 and
    // zstd link dependencies which this error-code-only program cannot yet reach.
    return 0;
}
