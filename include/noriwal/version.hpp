// noriwal — a write-ahead log for C++20 on Boost.Asio.
#pragma once

#define NORIWAL_VERSION_MAJOR 0
#define NORIWAL_VERSION_MINOR 1
#define NORIWAL_VERSION_PATCH 0
/// Version as one number: major * 10000 + minor * 100 + patch.
#define NORIWAL_VERSION (NORIWAL_VERSION_MAJOR * 10000 + NORIWAL_VERSION_MINOR * 100 + NORIWAL_VERSION_PATCH)
#define NORIWAL_VERSION_STRING "0.1.0"

/// On-disk format version written into every segment header. A reader refuses a segment whose
/// major version it does not know (errc::unsupported_version); minor versions are compatible.
#define NORIWAL_FORMAT_VERSION_MAJOR 1
#define NORIWAL_FORMAT_VERSION_MINOR 1
