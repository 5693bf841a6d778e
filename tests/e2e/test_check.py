"""`postern -D DIR check`, the systemd unit's ExecStartPre: exit 0 on a configuration the
service starts with, 1 with the file, line and reason (or the fix) on one it would refuse,
and nothing changed in the instance either way.
Must never: start a service."""
import os
import subprocess

import pytest

from conftest import POSTERN


def check(inst):
    return inst.run_cli("check", check=False)


def test_valid_configuration(instances):
    inst = instances("a")
    before = open(os.path.join(inst.dir, "postern.conf")).read()
    r = check(inst)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{inst.dir}/postern.conf: configuration valid\n"
    assert open(os.path.join(inst.dir, "postern.conf")).read() == before


def test_broken_line_is_named(instances):
    inst = instances("a")
    conf = os.path.join(inst.dir, "postern.conf")
    lines = open(conf).read().count("\n")
    with open(conf, "a") as f:
        f.write("this is not a parameter\n")
    r = check(inst)
    assert r.returncode == 1 and r.stdout == ""
    assert f"postern.conf:{lines + 1}:" in r.stderr, r.stderr


def test_missing_instance_says_how_to_make_one(workdir):
    d = os.path.join(workdir, "nothing")
    r = subprocess.run([POSTERN, "-D", d, "check"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"create the instance with postern -D {d} setup" in r.stderr
    assert not os.path.exists(d)


def test_missing_service_user(instances):
    if os.geteuid() != 0:
        pytest.skip("the service user is checked only when started as root")
    inst = instances("a")
    conf = os.path.join(inst.dir, "postern.conf")
    text = open(conf).read()
    assert text.count("ServiceUser = postern\n") == 1
    with open(conf, "w") as f:
        f.write(text.replace("ServiceUser = postern\n", "ServiceUser = no-such-user-here\n"))
    r = check(inst)
    assert r.returncode == 1
    assert 'ServiceUser "no-such-user-here" does not exist' in r.stderr, r.stderr
