"""Invalid or dangerous settings are refused with exit code 2, a message naming the
variable and the value on stderr, and nothing in the kernel touched."""

from __future__ import annotations

from netns import REPO, NetnsTestCase

P = ["10.0.0.1", "10.0.0.3", "fd00::1", "fd00::3"]

# (variable, flag, bad values)
ENV_CASES: list[tuple[str, str, list[str]]] = [
    ("TABLE_WEIGHT", "--table", ["0", "252", "253", "254", "255", "abc", "-1", "20x", "4294967296"]),
    ("RULE_PRIORITY", "--rule-priority", ["0", "4294967296", "99999999999", "abc", "-5", "1.5"]),
    ("PEER_WEIGHT", "--peer-weight", ["0", "257", "-1", "x", "1000"]),
    ("RULE_FWMARK", "--rule-fwmark", ["zz", "0x14/", "/0xff", "0x14/0xff/0x1", "0x1ffffffff", "0x14/zz"]),
    ("DESTINATION", "--destination", ["bogus", "10.0.0.1/8", "10.0.0.0/33", "fd00::1/64",
                                      "10.0.0.0/8,10.1.0.0/16", "fd00::/16,fd01::/16", "10.0.0.0/8,,x"]),
    ("MAX_RECONCILE_WAIT", "--max-reconcile-wait", ["-1", "abc", "10s"]),
    ("LOG_LEVEL", "--log-level", ["loud", "trace", "INFO-ish"]),
    ("LOG_FORMAT", "--log-format", ["xml"]),
    ("ONESHOT", "--oneshot", ["maybe", "2", "ja"]),
    ("CLEANANDEXIT", "--clean-and-exit", ["2", "nope"]),
    ("METALLB_USE_CRDS", None, ["perhaps", "-1"]),
]


class RefusalBase(NetnsTestCase):
    def setUp(self):
        super().setUp()
        self.seed_foreign()
        ip = self.ns.ip
        # imposters and half-managed state: any reconcile or clean would change these
        ip("route", "replace", "default", "table", "20", "via", "10.0.0.4")
        ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", "20", "priority", "20")
        ip("rule", "add", "from", "10.99.0.0/16", "lookup", "20", "priority", "20", "proto", "245")
        ip("-6", "rule", "add", "from", "fd21::/64", "lookup", "20", "priority", "20")
        self.cfg = self.write_config(P, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.snap = self.ns.full_snapshot()

    def check_refused(self, env: dict[str, str], args: list[str], names: list[str], value: str) -> None:
        r = self.ns.run_agent(env, args, timeout=15)
        self.assertEqual(r.returncode, 2, f"expected exit 2\n{r.describe()}")
        self.assertTrue(any(n in r.stderr for n in names),
                        f"stderr does not name {' or '.join(names)}\n{r.describe()}")
        self.assertIn(value, r.stderr, f"stderr does not show the value {value!r}\n{r.describe()}")
        self.assertEqual(self.ns.full_snapshot(), self.snap, f"kernel state changed\n{r.describe()}")


class TestEnvRefusals(RefusalBase):
    pass


class TestFlagRefusals(RefusalBase):
    def test_unknown_flag(self):
        r = self.ns.run_agent({"ONESHOT": "1", "METALLB_STATIC_FILE": str(self.cfg)}, ["--no-such-flag"])
        self.assertNotEqual(r.returncode, 0, r.describe())
        self.assertIn("--no-such-flag", r.stderr)
        self.assertEqual(self.ns.full_snapshot(), self.snap)

    def test_invalid_flag_beats_valid_env(self):
        self.check_refused({"ONESHOT": "1", "METALLB_STATIC_FILE": str(self.cfg), "TABLE_WEIGHT": "20"},
                           ["--table", "254"], ["--table", "TABLE_WEIGHT"], "254")

    def test_flag_with_equals(self):
        self.check_refused({"ONESHOT": "1", "METALLB_STATIC_FILE": str(self.cfg)},
                           ["--peer-weight=0"], ["--peer-weight", "PEER_WEIGHT"], "0")

    def test_refused_in_clean_mode_too(self):
        """A refusal must hold even when CLEANANDEXIT is requested: nothing is flushed."""
        self.check_refused({"CLEANANDEXIT": "1", "TABLE_WEIGHT": "254"}, [], ["TABLE_WEIGHT"], "254")

    def test_refused_in_daemon_mode(self):
        """Validation happens at start in the daemon as well (it must exit, not run)."""
        self.check_refused({"METALLB_STATIC_FILE": str(self.cfg), "PEER_WEIGHT": "999"}, [],
                           ["PEER_WEIGHT"], "999")


def _env_case(var: str, value: str):
    def t(self):
        env = {"ONESHOT": "1", "METALLB_STATIC_FILE": str(self.cfg), var: value}
        if var == "ONESHOT":
            env["CLEANANDEXIT"] = ""  # ONESHOT itself is the bad one; the run would hang as a daemon otherwise
        self.check_refused(env, [], [var], value)
    return t


def _flag_case(var: str, flag: str, value: str):
    def t(self):
        env = {"ONESHOT": "1", "METALLB_STATIC_FILE": str(self.cfg)}
        if flag in ("--oneshot", "--clean-and-exit"):
            args = [f"{flag}={value}"]
        else:
            args = [flag, value]
        self.check_refused(env, args, [flag, var], value)
    return t


def _ident(v: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in v) or "empty"


for _var, _flag, _vals in ENV_CASES:
    for _v in _vals:
        _t = _env_case(_var, _v)
        _t.__name__ = f"test_{_var}_{_ident(_v)}"
        _t.__doc__ = f"{_var}={_v!r} is refused"
        setattr(TestEnvRefusals, _t.__name__, _t)
        if _flag and _flag not in ("--oneshot", "--clean-and-exit"):
            _t = _flag_case(_var, _flag, _v)
            _t.__name__ = f"test_{_flag[2:].replace('-', '_')}_{_ident(_v)}"
            _t.__doc__ = f"{_flag} {_v!r} is refused"
            setattr(TestFlagRefusals, _t.__name__, _t)


class TestHelpVersion(RefusalBase):
    def test_help(self):
        r = self.ns.run_agent({"ONESHOT": "1", "METALLB_STATIC_FILE": str(self.cfg)}, ["--help"], timeout=10)
        self.assertEqual(r.returncode, 0, r.describe())
        text = r.stdout + r.stderr
        for flag in ("--static-file", "--table", "--rule-priority", "--peer-weight", "--rule-fwmark",
                     "--destination", "--max-reconcile-wait", "--log-level", "--oneshot", "--clean-and-exit"):
            self.assertIn(flag, text, f"--help does not mention {flag}")
        self.assertEqual(self.ns.full_snapshot(), self.snap)

    def test_version(self):
        r = self.ns.run_agent({"ONESHOT": "1", "METALLB_STATIC_FILE": str(self.cfg)}, ["--version"], timeout=10)
        self.assertEqual(r.returncode, 0, r.describe())
        version = (REPO / "VERSION").read_text().strip()
        self.assertIn(version, r.stdout + r.stderr)
        self.assertEqual(self.ns.full_snapshot(), self.snap)

    def test_empty_values_mean_unset(self):
        """Empty booleans are unset: ONESHOT=1 with CLEANANDEXIT='' and METALLB_USE_CRDS='' reconciles."""
        r = self.ns.run_agent({"ONESHOT": "1", "METALLB_STATIC_FILE": str(self.cfg), "CLEANANDEXIT": "",
                               "METALLB_USE_CRDS": ""}, timeout=30)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_state(["192.168.57.0/24", "fd20::/64"], P)

    def test_false_spellings_accepted(self):
        for v in ("0", "false", "no", "off"):
            with self.subTest(CLEANANDEXIT=v):
                r = self.ns.run_agent({"ONESHOT": "1", "METALLB_STATIC_FILE": str(self.cfg), "CLEANANDEXIT": v,
                                       "METALLB_USE_CRDS": v}, timeout=30)
                self.assertEqual(r.returncode, 0, r.describe())
                self.assert_state(["192.168.57.0/24", "fd20::/64"], P)
