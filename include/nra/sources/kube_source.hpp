// The Kubernetes configuration sources: the legacy ConfigMap, or the
// metallb.io CRDs with this node's labels, from list/watch informers.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "nra/sources/source.hpp"

namespace nra {

struct KubeOptions {
    std::string namespace_override;  // METALLB_NAMESPACE ("" = service-account namespace file, then metallb-system)
    std::string configmap_name = "config";  // METALLB_CONFIGMAP_NAME
    bool use_crds = false;                  // METALLB_USE_CRDS
    std::string node_name;                  // NODE_NAME ("" = node selectors not evaluated: every peer applies)
    std::string kubeconfig;                 // --kubeconfig ("" = in-cluster, then $KUBECONFIG, then ~/.kube/config)
    std::string context;                    // --context / KUBE_CONTEXT ("" = the kubeconfig's current-context)
    bool list_only = false;                 // ONESHOT: list every stream once, never watch
    // KUBE_WATCH_SILENCE_TIMEOUT: a watch silent (no event, no bookmark) this
    // long is reopened; 3x the API server's bookmark cadence by default.
    std::chrono::milliseconds watch_silence{180000};
    // Follow this node's frr-k8s BGPSessionStates (with NODE_NAME, when the
    // API serves them; never with list_only) and deliver them through
    // Callbacks::sessions.
    bool bgp_sessions = false;
    std::string frrk8s_namespace;  // FRRK8S_NAMESPACE ("" = the MetalLB namespace)
};

// Throws std::runtime_error with a clear message when no usable API server
// configuration can be built (no in-cluster environment, no kubeconfig,
// invalid kubeconfig).
std::unique_ptr<Source> make_kube_source(const KubeOptions& options);

}  // namespace nra
