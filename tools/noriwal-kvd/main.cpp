// noriwal-kvd: the replicated key-value server (kvd.hpp, doc/replication.md).
#include "kvd.hpp"

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    noriwal::kvd::options opts;
    std::string error;
    bool help = false;
    if (!noriwal::kvd::parse_options(args, opts, error, help)) {
        if (help) {
            noriwal::kvd::print_usage(std::cout);
            return 0;
        }
        std::cerr << "noriwal-kvd: " << error << "\n";
        noriwal::kvd::print_usage(std::cerr);
        return 2;
    }
    return noriwal::kvd::run(opts);
}
