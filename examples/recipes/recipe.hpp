// What every recipe needs besides noriwal: a scratch directory of its own, and a check that
// stops the program with a message and a non-zero exit status when a result is not the
// expected one (the recipes are run as tests: see examples/recipes/CMakeLists.txt).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <stdlib.h>  // mkdtemp

namespace recipe {

/// Thrown by check(); main() prints it and returns 1.
struct mismatch : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline void check(bool ok, const std::string& what) {
    if (!ok) throw mismatch("check failed: " + what);
}

/// A fresh, empty directory under `parent` (argv[1] if given, else the system's temporary
/// directory), removed when the recipe succeeds and kept for inspection when it fails.
class scratch_dir {
public:
    scratch_dir(int argc, char** argv, const std::string& name) {
        const std::filesystem::path parent =
            argc > 1 ? std::filesystem::path(argv[1]) : std::filesystem::temp_directory_path();
        std::filesystem::create_directories(parent);
        std::string templ = (parent / (name + "-XXXXXX")).string();
        if (::mkdtemp(templ.data()) == nullptr)
            throw std::system_error(errno, std::generic_category(),
                                    "cannot create a directory in " + parent.string());
        path_ = templ;
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    ~scratch_dir() {
        std::error_code ec;
        if (keep_) {
            std::cerr << "kept " << path_ << " for inspection\n";
        } else {
            std::filesystem::remove_all(path_, ec);
        }
    }

    const std::filesystem::path& path() const noexcept { return path_; }
    /// Called when the recipe fails: the directory stays.
    void keep() noexcept { keep_ = true; }

private:
    std::filesystem::path path_;
    bool keep_ = false;
};

/// Runs body(dir) and turns its outcome into an exit status: 0 when it returns, 1 (with the
/// message on stderr, the directory kept) when it throws.
template <class Body>
int run(int argc, char** argv, const std::string& name, Body&& body) {
    try {
        scratch_dir dir(argc, argv, name);
        try {
            body(dir.path());
            std::cout << name << ": all checks passed\n";
            return 0;
        } catch (...) {
            dir.keep();
            throw;
        }
    } catch (const std::exception& e) {
        std::cerr << name << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace recipe
