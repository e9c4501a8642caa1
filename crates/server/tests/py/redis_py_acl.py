"""redis-py's ACL API against the server on port argv[1] (run against Debian's redis-server
too, by the same test: the expectations are Redis's). Modelled on redis-py's own ACL tests:
acl_setuser with every kind of rule, acl_getuser's parsed dict, acl_list/users/whoami/cat/
genpass/dryrun/log/deluser, AUTH with a username, and the errors for bad rules."""
import sys

import redis
from redis.exceptions import AuthenticationError, DataError, NoPermissionError, ResponseError

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
USERS = ["redis-py-user", "redis-py-ro", "redis-py-sel"]
r.acl_deluser(*USERS)
r.acl_log_reset()

# acl_cat
cats = r.acl_cat()
assert "read" in cats and "write" in cats and "dangerous" in cats, cats
assert "get" in r.acl_cat("read")
assert "set" not in r.acl_cat("read")

# acl_setuser / acl_getuser: every kind of rule, and the parsed reply.
assert r.acl_setuser(
    "redis-py-user",
    enabled=True,
    reset=True,
    passwords=["+pass1", "+pass2"],
    categories=["+set", "+@hash", "-@geo"],
    commands=["+get", "+mget", "-hset"],
    keys=["cache:*", "objects:*"],
    channels=["message:*"],
)
u = r.acl_getuser("redis-py-user")
assert u["enabled"] is True, u
assert set(u["flags"]) == {"on", "sanitize-payload"}, u
assert len(u["passwords"]) == 2, u
assert set(u["keys"]) == {"~cache:*", "~objects:*"}, u
assert u["channels"] == ["&message:*"], u
cmds = set(u["commands"])
assert "+get" in cmds and "+mget" in cmds and "-hset" in cmds, u
assert "+@set" in u["categories"] and "+@hash" in u["categories"], u
assert u["selectors"] == [], u

# Hashed passwords and removal.
import hashlib
h = hashlib.sha256(b"pass3").hexdigest()
assert r.acl_setuser("redis-py-user", hashed_passwords=["+" + h])
assert len(r.acl_getuser("redis-py-user")["passwords"]) == 3
assert r.acl_setuser("redis-py-user", passwords=["-pass1"])
assert len(r.acl_getuser("redis-py-user")["passwords"]) == 2
try:
    r.acl_setuser("redis-py-user", passwords="pass1")
    raise AssertionError("a password without +/- prefix")
except DataError:
    pass
try:
    r.acl_setuser("redis-py-user", nopass=True, passwords="+x")
    raise AssertionError("nopass with passwords")
except DataError:
    pass
try:
    r.acl_setuser("redis-py-user", categories=["list"])
    raise AssertionError("a category without prefix")
except DataError:
    pass
try:
    r.acl_setuser("redis-py-user", commands=["get"])
    raise AssertionError("a command without prefix")
except DataError:
    pass
try:
    r.acl_setuser("redis-py-user", commands=["+nosuchcommand"])
    raise AssertionError("an unknown command")
except ResponseError as e:
    assert "Unknown command or category name in ACL" in str(e), e

# Selectors and key permissions.
assert r.acl_setuser(
    "redis-py-sel",
    enabled=True,
    nopass=True,
    commands=["+get"],
    keys=["%R~read:*"],
    selectors=[("+set", "%W~write:*"), ("+@hash", "~h:*")],
)
s = r.acl_getuser("redis-py-sel")
assert s["keys"] == ["%R~read:*"], s
assert len(s["selectors"]) == 2, s
# redis-py leaves each selector as Redis's flat field/value list (RESP2).
sel = dict(zip(s["selectors"][0][::2], s["selectors"][0][1::2]))
assert sel["commands"] == "-@all +set", sel
assert sel["keys"] == "%W~write:*", sel
assert sel["channels"] == "", sel

# acl_list, acl_users, acl_whoami, acl_genpass.
assert any(l.startswith("user redis-py-user off ") for l in r.acl_list()), r.acl_list()
assert set(USERS[::2]) <= set(r.acl_users())
assert r.acl_whoami() == "default"
assert len(r.acl_genpass()) == 64
assert len(r.acl_genpass(555)) == 139
try:
    r.execute_command("ACL", "GENPASS", "-5")
    raise AssertionError("negative bits")
except ResponseError:
    pass

# acl_dryrun.
assert r.acl_dryrun("redis-py-sel", "get", "read:1") == "OK"
assert "no permissions" in r.acl_dryrun("redis-py-sel", "set", "read:1", "v")
assert r.acl_dryrun("redis-py-sel", "set", "write:1", "v") == "OK"

# Logging in as a user; refusals raise NoPermissionError and land in the ACL log.
assert r.acl_setuser("redis-py-ro", enabled=True, passwords=["+ropw"], categories=["+@read"], keys=["*"])
ro = redis.Redis(host="127.0.0.1", port=port, username="redis-py-ro", password="ropw", decode_responses=True)
assert ro.get("anything") is None
try:
    ro.set("anything", "v")
    raise AssertionError("a read-only user wrote")
except NoPermissionError:
    pass
try:
    redis.Redis(host="127.0.0.1", port=port, username="redis-py-ro", password="wrong").ping()
    raise AssertionError("a wrong password")
except AuthenticationError:
    pass
log = r.acl_log()
reasons = [e["reason"] for e in log]
assert "command" in reasons and "auth" in reasons, log
entry = next(e for e in log if e["reason"] == "command")
assert entry["object"] == "set" and entry["username"] == "redis-py-ro", entry
assert entry["context"] == "toplevel" and entry["count"] == 1, entry
assert "age-seconds" in entry and "client-info" in entry, entry
assert len(r.acl_log(count=1)) == 1
assert r.acl_log_reset()
assert r.acl_log() == []

# acl_deluser.
assert r.acl_deluser(*USERS) == 3
assert r.acl_deluser("redis-py-user") == 0
try:
    r.acl_deluser("default")
    raise AssertionError("default removed")
except ResponseError:
    pass
print("redis-py acl ok")
