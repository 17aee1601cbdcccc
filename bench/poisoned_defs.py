# The resolver of bench/run.py's poisoned hot key table: the reference's login example
# (examples/login/defs.py, whose types it uses), except that with STATEFOLD_BENCH_RAISE=1 a
# message whose IP address starts with "poison" raises after mutating the state, so that the
# engine must roll its key back (docs/semantics.md, "A resolver that raises leaves no trace").
# Without it, the same messages are applied like any other: the two runs do the same work but
# for the failures.
import importlib.util
import os

from statefold import Features, State, stream

RAISE = os.environ.get("STATEFOLD_BENCH_RAISE") == "1"

_spec = importlib.util.spec_from_file_location(
    "login_defs", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "login", "defs.py"))
login = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(login)
User = login.User


@stream(source=login.source)
def track_unique_ips(event: login.LoginEvent, state: State[login.LoginState]) -> Features[
    User.id, User.unique_ip_count
]:
    state.unique_ips.add(event.ip_address)
    if RAISE and event.ip_address.startswith("poison"):
        raise ValueError(f"poisoned message for {event.user_id}")
    return User(id=event.user_id, unique_ip_count=len(state.unique_ips))
