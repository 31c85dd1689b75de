"""ConfigMap mode end to end: the real agent in a namespace against the fake API server
(tests/fakeapi) running in that namespace. The legacy ConfigMap's data.config is
created, modified, broken, fixed and deleted; an absent ConfigMap at start means an empty
configuration, a deleted one keeps the last good configuration (as MetalLB's speaker does); legacy node-selectors follow this node's labels when NODE_NAME is set."""

from __future__ import annotations

import signal

from kube_harness import MNS, KubeTestCase, configmap, legacy_config, node, wait_until

P = ["10.0.0.1", "10.0.0.3", "fd00::1"]
C1 = ["192.168.57.0/24", "fd20::/64"]
P2 = ["10.0.0.4", "fd00::3"]
C2 = ["192.168.60.0/24", "192.168.62.0/24", "fd22::/64"]  # not adjacent: no aggregation


def cfg(peers, cidrs, name="p", proto="bgp"):
    return legacy_config(peers, [(name, proto, cidrs)])


class TestKubeConfigMap(KubeTestCase):
    def plant_stale(self):
        """Managed-looking state the agent must remove once it knows the configuration is empty."""
        self.ns.ip("rule", "add", "from", "192.168.99.0/24", "lookup", "20", "priority", "20", "proto", "245")
        self.ns.ip("-6", "rule", "add", "from", "fd99::/64", "lookup", "20", "priority", "20", "proto", "245")
        self.ns.ip("route", "add", "default", "via", "10.0.0.1", "table", "20", "proto", "245")

    def test_create_modify_delete(self):
        """ConfigMap created after the agent started -> routes appear; modified -> converge;
        deleted -> the last good configuration stays (as the speaker keeps announcing it); an empty
        configuration -> everything removed; created again -> back. Foreign state untouched."""
        before = self.seed_foreign()
        api = self.start_api()
        self.ns.start_monitor()
        agent = self.start_kube_agent(api)
        api.wait_for_watch("/configmaps")
        self.wait_state([], [])
        api.put_object(configmap(cfg(P, C1)))
        self.wait_state(C1, P)
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2)
        # only bgp pools count; a layer2 pool next to it adds nothing
        api.put_object(configmap(legacy_config(P, [("b", "bgp", C2), ("l2", "layer2", ["192.168.70.0/24"])])))
        self.wait_state(C2, P)
        api.delete_object("ConfigMap", "config")
        self.wait_agent_log(agent, "was deleted", "keeping the last good configuration", level="warn")
        self.assert_state(C2, P)
        api.put_object(configmap("peers: []\naddress-pools: []\n"))
        self.wait_state([], [])
        api.put_object(configmap(cfg(P, C1)))
        self.wait_state(C1, P)
        self.assert_foreign_unchanged(before)
        self.assert_alive(agent)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)
        self.assert_state(C1, P)  # SIGTERM leaves routing as it is

    def test_invalid_yaml_keeps_last_good_and_logs(self):
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        n = len(agent.json_logs())
        api.put_object(configmap("peers: [\n  - peer-address: 10.0.0.4\naddress-pools: {{{\n"))
        err = self.wait_agent_log(agent, "invalid yaml", since=n)
        self.assertIn(err.get("level"), ("error", "warn"), err)
        self.assertIn(f"{MNS}/config", str(err), "the log line names the ConfigMap")
        # a valid YAML document that is not a MetalLB configuration (a list) is refused the same way
        n = len(agent.json_logs())
        api.put_object(configmap("- peer-address: 10.0.0.4\n- name: x\n"))
        err = self.wait_agent_log(agent, f"{MNS}/config", since=n)
        self.assertIn(err.get("level"), ("error", "warn"), err)
        self.assert_state(C1, P)
        # imposters are still removed while the broken ConfigMap is in place
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", "20", "priority", "20")
        self.wait_state(C1, P)
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2)
        self.assert_alive(agent)

    def test_absent_at_start_means_empty(self):
        """No ConfigMap at all: an empty configuration -> nothing installed, stale state removed,
        and the agent keeps watching (the ConfigMap appearing later applies)."""
        before = self.seed_foreign()
        self.plant_stale()
        api = self.start_api()
        agent = self.start_kube_agent(api)
        self.wait_state([], [])
        self.wait_agent_log(agent, "does not exist")
        self.assert_foreign_unchanged(before)
        api.put_object(configmap(cfg(P, C1)))
        self.wait_state(C1, P)

    def test_without_config_key_keeps_the_last_good(self):
        """data.config removed: the last good configuration stays; without data.config at start:
        an empty configuration."""
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        api.put_object(configmap(None))  # data.config gone
        self.wait_agent_log(agent, "has no 'config' key", "keeping the last good configuration", level="warn")
        self.assert_state(C1, P)
        self.assert_alive(agent)
        self.assertEqual(agent.stop(), 0)  # leaves routing as it is
        agent = self.start_kube_agent(api)  # a new start has no last good configuration
        self.wait_agent_log(agent, "has no 'config' key", "empty configuration")
        self.wait_state([], [])

    def test_oneshot(self):
        """ONESHOT in ConfigMap mode lists once, reconciles, exits 0; absent ConfigMap -> empty, exit 0."""
        before = self.seed_foreign()
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        self.kube_oneshot(api)
        self.assert_state(C1, P)
        self.assert_oneshot_did_not_watch(api)
        api.delete_object("ConfigMap", "config")
        self.kube_oneshot(api)
        self.assert_state([], [])
        self.assert_foreign_unchanged(before)

    def test_configmap_name_and_namespace(self):
        """METALLB_CONFIGMAP_NAME / METALLB_NAMESPACE select the object; others are ignored."""
        api = self.start_api()
        api.put_object(configmap(cfg(P2, C2)))  # default name: not ours
        api.put_object(configmap(cfg(P2, C2), name="nra", namespace="other-ns"))  # right name, wrong namespace
        api.put_object(configmap(cfg(P, C1), name="nra", namespace="lb"))
        agent = self.start_kube_agent(api, METALLB_NAMESPACE="lb", METALLB_CONFIGMAP_NAME="nra")
        self.wait_state(C1, P)
        watch = api.wait_for_request(path="/configmaps", type="watch")
        self.assertEqual(watch["path"], "/api/v1/namespaces/lb/configmaps")
        self.assertEqual(watch["params"].get("fieldSelector"), "metadata.name=nra")
        api.put_object(configmap(cfg(["10.0.0.4"], C2), name="nra", namespace="other-ns"))
        api.put_object(configmap(cfg(P, ["192.168.80.0/24"]), name="nra", namespace="lb"))
        self.wait_state(["192.168.80.0/24"], P)
        self.assert_alive(agent)

    def test_legacy_node_selectors_follow_node_labels(self):
        """With NODE_NAME, a peer's node-selectors are evaluated against this node's labels; a label
        change flips the peer in and out; a status-only change causes no new configuration."""
        api = self.start_api()
        api.put_object(node("n1", {"zone": "a"}), node("n2", {"zone": "b"}))
        sel_b = [{"match-labels": {"zone": "b"}}]
        sel_expr = [{"match-expressions": [{"key": "rack", "operator": "In", "values": ["r1", "r2"]}]}]
        text = legacy_config([("10.0.0.1", sel_b), ("10.0.0.3", sel_expr), "10.0.0.4", ("fd00::1", [])],
                             [("p", "bgp", C1)])
        api.put_object(configmap(text))
        agent = self.start_kube_agent(api, node="n1")
        self.wait_state(C1, ["10.0.0.4", "fd00::1"])
        nodes_watch = api.wait_for_watch("/nodes")[0]
        self.assertEqual(api.wait_for_request(path="/nodes", type="watch")["params"].get("fieldSelector"),
                         "metadata.name=n1")
        api.put_object(node("n1", {"zone": "b"}))
        self.wait_state(C1, ["10.0.0.1", "10.0.0.4", "fd00::1"])
        api.put_object(node("n1", {"zone": "b", "rack": "r2"}))
        self.wait_state(C1, ["10.0.0.1", "10.0.0.3", "10.0.0.4", "fd00::1"])
        api.put_object(node("n1", {"zone": "a", "rack": "r2"}))
        self.wait_state(C1, ["10.0.0.3", "10.0.0.4", "fd00::1"])
        # another node's labels do not matter
        api.put_object(node("n2", {"zone": "a", "rack": "r9"}))
        # status-only MODIFIED (a heartbeat): delivered on the watch, but no new configuration
        n_cfg = self.config_changes(agent)
        events = nodes_watch["events"]
        api.put_object(node("n1", {"zone": "a", "rack": "r2"}, status={"conditions": [{"type": "Ready"}]}))
        wait_until(lambda: any(w["id"] == nodes_watch["id"] and w["events"] > events for w in api.watches()),
                   10, what="heartbeat sent on the node watch")
        api.put_object(node("n1", {"zone": "b", "rack": "r2"}))  # a real change after the heartbeat
        self.wait_state(C1, ["10.0.0.1", "10.0.0.3", "10.0.0.4", "fd00::1"])
        wait_until(lambda: self.config_changes(agent) >= n_cfg + 1, 10, what="configuration after label change")
        self.assertEqual(self.config_changes(agent), n_cfg + 1,
                         "the status-only node change produced a configuration of its own")
        # this node deleted: no labels, so selector peers drop out
        api.delete_object("Node", "n1")
        self.wait_state(C1, ["10.0.0.4", "fd00::1"])
        self.assert_alive(agent)

    def test_legacy_node_selectors_ignored_without_node_name(self):
        """Without NODE_NAME there is no node to evaluate against: every peer applies (as upstream)."""
        api = self.start_api()
        text = legacy_config([("10.0.0.1", [{"match-labels": {"zone": "b"}}]), "10.0.0.3"],
                             [("p", "bgp", ["192.168.57.0/24"])])
        api.put_object(configmap(text))
        self.kube_oneshot(api)
        self.assert_state(["192.168.57.0/24"], ["10.0.0.1", "10.0.0.3"])
        self.assertFalse(api.requests_log(path="/nodes"), "no node requests without NODE_NAME")
