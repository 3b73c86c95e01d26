"""The org chart the approval tests share.

erin (vp, 100 000) ── dana (director, 20 000) ── bob (manager, 3 000) ─┬─ alice
                                             └─ mallory               └─ carol
"""

from __future__ import annotations

from agentflow.approvals import OrgChart

SLACK = {
    "alice": "U0ALICE",
    "bob": "U0BOB",
    "carol": "U0CAROL",
    "dana": "U0DANA",
    "erin": "U0ERIN",
    "mallory": "U0MALLORY",
}


def seed(org: OrgChart) -> OrgChart:
    org.set_limit("manager", 3_000)
    org.set_limit("director", 20_000)
    org.set_limit("vp", 100_000)
    for handle, name, manager, level in [
        ("erin", "Erin Vp", None, "vp"),
        ("dana", "Dana Director", "erin", "director"),
        ("bob", "Bob Manager", "dana", "manager"),
        ("alice", "Alice Traveller", "bob", "staff"),
        ("carol", "Carol Colleague", "bob", "staff"),
        ("mallory", "Mallory Outsider", "dana", "staff"),
    ]:
        org.add_employee(handle, name, manager=manager, level=level, slack_user_id=SLACK[handle])
    return org
