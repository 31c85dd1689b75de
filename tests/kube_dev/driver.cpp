// Development driver for the Kubernetes source: runs an EventLoop with
// make_kube_source and prints every delivered Model on stdout.
//
//   make BUILD=build/kube build/kube/libnra.a
//   g++ -std=c++20 -Iinclude tests/kube_dev/driver.cpp build/kube/libnra.a
//       -lmnl -lyaml -lssl -lcrypto -lsimdjson -o build/kube/kube-dev
//   build/kube/kube-dev --kubeconfig KC [--crds] [--node NODE] [--namespace NS]
//                       [--configmap NAME] [--log debug] [--exit-after-first]
//
// Environment (KUBERNETES_SERVICE_HOST, KUBECONFIG, HOME) is honoured exactly
// as by the agent.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "nra/agent/log.hpp"
#include "nra/agent/loop.hpp"
#include "nra/core/model.hpp"
#include "nra/sources/source.hpp"

int main(int argc, char** argv) {
    nra::KubeOptions opts;
    std::string level = "info";
    bool exit_after_first = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << a << " needs a value\n";
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--kubeconfig") opts.kubeconfig = value();
        else if (a == "--crds") opts.use_crds = true;
        else if (a == "--node") opts.node_name = value();
        else if (a == "--namespace") opts.namespace_override = value();
        else if (a == "--configmap") opts.configmap_name = value();
        else if (a == "--log") level = value();
        else if (a == "--exit-after-first") exit_after_first = true;
        else {
            std::cerr << "usage: kube-dev [--kubeconfig F] [--crds] [--node N] [--namespace NS] [--configmap NAME] "
                         "[--log LEVEL] [--exit-after-first]\n";
            return 2;
        }
    }
    nra::log::init(nra::log::parse_level(level).value_or(nra::log::Level::Info), nra::log::Format::Text);
    try {
        nra::EventLoop loop;
        auto source = nra::make_kube_source(opts);
        std::cerr << "source: " << source->describe() << "\n";
        int n = 0;
        source->start(loop, {[&](nra::Model m) {
            std::cout << "MODEL " << ++n << " peers=" << m.peers.size() << " addresses=" << m.addresses.size() << "\n";
            for (const auto& p : m.peers)
                std::cout << "  peer " << p.address.str() << " weight=" << p.weight << " name=" << p.name << "\n";
            for (const auto& a : m.addresses) std::cout << "  address " << a.text << " (" << a.where << ")\n";
            std::cout << "END\n" << std::flush;
            if (exit_after_first) loop.stop();
        }});
        loop.run();
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
