import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rmdir

required_conan_version = ">=2.0"


class NoriwalConan(ConanFile):
    """Conan 2 recipe for noriwal. `conan create .` builds the library (no tests, tools or
    benchmarks) and runs test_package/ against the result. See doc/packaging.md."""

    name = "noriwal"
    description = "Write-ahead log for C++20 on Boost.Asio"
    license = "BSL-1.0"
    topics = ("wal", "write-ahead-log", "asio", "durability", "storage")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"shared": [True, False], "fPIC": [True, False]}
    default_options = {
        "shared": False,
        "fPIC": True,
        # The library uses only header-only Boost (Asio, Endian); the parts that need compiled
        # Boost (tests, wal-inspect, wal-bench) are not built in the package.
        "boost/*:header_only": True,
    }
    exports_sources = "CMakeLists.txt", "cmake/*", "include/*", "lib/*", "LICENSE"

    def set_version(self):
        # One source of truth: project(noriwal VERSION x.y.z) in CMakeLists.txt (which checks
        # itself against include/noriwal/version.hpp when configured).
        text = load(self, os.path.join(self.recipe_folder, "CMakeLists.txt"))
        match = re.search(r"project\(\s*noriwal\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", text)
        if not match:
            raise ValueError("CMakeLists.txt: no 'project(noriwal VERSION x.y.z)' found")
        self.version = match.group(1)

    def config_options(self):
        if self.settings.os == "Windows":
            del self.options.fPIC

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")

    def layout(self):
        cmake_layout(self)

    def requirements(self):
        # Boost's headers are included by ours: consumers see them (transitive_headers).
        self.requires("boost/1.83.0", transitive_headers=True)
        self.requires("lz4/1.9.4")
        self.requires("zstd/1.5.5")

    def validate(self):
        check_min_cppstd(self, "20")

    def generate(self):
        toolchain = CMakeToolchain(self)
        # BUILD_SHARED_LIBS and CMAKE_POSITION_INDEPENDENT_CODE follow the shared/fPIC options.
        for part in ("TESTS", "TOOLS", "PERF", "EXAMPLES"):
            toolchain.cache_variables[f"NORIWAL_BUILD_{part}"] = False
        toolchain.cache_variables["NORIWAL_INSTALL"] = True
        toolchain.generate()

        deps = CMakeDeps(self)
        # Our CMakeLists link lz4::lz4 and zstd::libzstd (the names cmake/Findlz4.cmake and
        # cmake/Findzstd.cmake define); ConanCenter's names differ between recipe versions.
        deps.set_property("lz4", "cmake_file_name", "lz4")
        deps.set_property("lz4", "cmake_target_name", "lz4::lz4")
        deps.set_property("zstd", "cmake_file_name", "zstd")
        deps.set_property("zstd", "cmake_target_name", "zstd::libzstd")
        deps.set_property("zstd::zstdlib", "cmake_target_name", "zstd::libzstd")
        deps.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE", src=self.source_folder, dst=os.path.join(self.package_folder, "licenses"))
        cmake = CMake(self)
        cmake.install()
        # Conan's generators (CMakeDeps, PkgConfigDeps) write these from package_info() instead.
        rmdir(self, os.path.join(self.package_folder, "lib", "cmake"))
        rmdir(self, os.path.join(self.package_folder, "lib", "pkgconfig"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "noriwal")
        self.cpp_info.set_property("cmake_target_name", "noriwal::noriwal")
        self.cpp_info.set_property("pkg_config_name", "noriwal")
        self.cpp_info.libs = ["noriwal"]
        self.cpp_info.defines = ["BOOST_ASIO_NO_DEPRECATED"]
        self.cpp_info.requires = ["boost::headers", "lz4::lz4", "zstd::zstd"]
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
