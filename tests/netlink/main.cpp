// Runner of the kernel-level netlink tests: moves into a fresh network
// namespace (needs root) with lo up and a veth pair, then runs Catch2.
//
//   build: g++ -std=c++20 -O2 -Wall -Wextra -Werror -Iinclude tests/netlink/*.cpp
//            src/netlink/*.cpp src/core/ip.cpp src/core/types.cpp -lmnl -o kernel-test
//   run:   sudo ./kernel-test [catch2 args]
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <sched.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    if (unshare(CLONE_NEWNET) != 0) {
        std::perror("unshare(CLONE_NEWNET) (needs root)");
        return 2;
    }
    const char* setup =
        "ip link set lo up && ip link add veth0 type veth peer name veth1 && ip link set veth0 up && "
        "ip link set veth1 up && ip addr add 192.0.2.1/24 dev veth0 && "
        "ip -6 addr add 2001:db8::1/64 dev veth0 nodad";
    if (std::system(setup) != 0) {
        std::fprintf(stderr, "namespace setup failed\n");
        return 2;
    }
    return Catch::Session().run(argc, argv);
}
