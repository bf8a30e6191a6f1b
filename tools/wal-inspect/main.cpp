// wal-inspect: look into a noriwal log from the command line. Everything is in the
// noriwal_inspect library (inspect.hpp), which the demonstration links too.
#include "inspect.hpp"

#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    std::vector<std::string> args(argv + 1, argv + argc);
    return noriwal::inspect::run(args, std::cin, std::cout, std::cerr, ::isatty(STDERR_FILENO) == 1);
}
