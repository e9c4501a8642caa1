"""redis-py's distributed Lock (a Lua script) against the server on port argv[1]:
acquire, extend, reacquire, release, a blocking acquire with a timeout, a blocking acquire
that succeeds when another thread releases, and the errors for a lock not owned."""
import sys
import threading
import time

import redis
from redis.exceptions import LockNotOwnedError, LockError

r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
r.delete("res")

lock = r.lock("res", timeout=5)
assert lock.acquire(blocking=False), "first acquire"
assert lock.owned() and lock.locked()

other = r.lock("res", timeout=5, blocking_timeout=0.3)
t = time.time()
assert not other.acquire(), "a held lock cannot be taken"
assert time.time() - t >= 0.15, "blocking_timeout waited"

assert lock.extend(10), "extend adds time"
assert r.pttl("res") > 10000, r.pttl("res")
assert lock.extend(3, replace_ttl=True)
assert r.pttl("res") <= 3000
assert lock.reacquire(), "reacquire resets the timeout"
assert r.pttl("res") > 4000

lock.release()
assert not r.exists("res")
try:
    lock.release()
    raise SystemExit("releasing an unheld lock must fail")
except LockError:
    pass

# A blocking acquire succeeds once the holder releases from another thread.
holder = r.lock("res", timeout=5, thread_local=False)
assert holder.acquire(blocking=False)
threading.Timer(0.3, holder.release).start()
waiter = r.lock("res", timeout=5, blocking_timeout=3)
t = time.time()
assert waiter.acquire(), "blocking acquire after the release"
assert time.time() - t >= 0.2
stale = r.lock("res", timeout=5, thread_local=False)
stale.local.token = b"a-token-that-expired"
try:
    stale.extend(1)
    raise SystemExit("extending a lock now held by another must fail")
except LockNotOwnedError:
    pass
waiter.release()

# The token is per holder: another's token cannot release it.
a = r.lock("res2", timeout=5)
assert a.acquire(blocking=False)
b = r.lock("res2", timeout=5)
b.local.token = b"not-the-owner"
try:
    b.release()
    raise SystemExit("a foreign token released the lock")
except LockNotOwnedError:
    pass
a.release()
print("redis-py lock ok")
