"""Audit before act: no tool body runs before the record of its call is in the store.

A store that refuses writes (a trigger raising, or on PostgreSQL a role whose INSERT was
revoked) must stop the booking, on the in-process path and on a durable worker alike, with a
refusal the employee reads; and where the store works, the record is there when the body runs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from agentflow import Agent, RunContext, tool
from agentflow.audit import AuditHandler, AuditStore, configure_tracing
from agentflow.audit.store import TABLE
from agentflow.intent import REFUSAL
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response, tool_call
from tests.audit.support import Bookings, approve, travel_agent, travel_model

pytestmark = pytest.mark.asyncio(loop_scope="session")

GENEVA = "Book me the cheapest flight to Geneva on Friday, pay with my card 4111 1111 1111 1111"
"""In policy (640): the booking needs no approval, so only the audit store can stop it."""


def refuse_inserts(url: str) -> None:
    """A trigger that makes every append fail, as a full disk or a broken replica would."""
    store = AuditStore(url)
    with store.engine.begin() as connection:
        if store.engine.dialect.name == "sqlite":
            connection.execute(
                text(
                    f"CREATE TRIGGER refuse_inserts BEFORE INSERT ON {TABLE} "
                    "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_inserts() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'the disk is full'; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER refuse_inserts BEFORE INSERT ON {TABLE} "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_inserts()"
                )
            )
    store.dispose()


@contextlib.contextmanager
def read_only_role(url: str) -> Iterator[str]:
    """``url`` as a PostgreSQL role that may read the trail but whose INSERT was revoked."""
    parsed = make_url(url)
    schema = str(parsed.query["options"]).split("=", 1)[1]
    role = f"reader_{uuid.uuid4().hex[:10]}"
    admin = {"host": "127.0.0.1", "user": parsed.username, "dbname": "test", "autocommit": True}
    with psycopg.connect(**admin) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        for statement in (
            "GRANT USAGE ON SCHEMA {} TO {}",
            "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {} TO {}",
            "REVOKE INSERT ON ALL TABLES IN SCHEMA {} FROM {}",
        ):
            conn.execute(sql.SQL(statement).format(sql.Identifier(schema), sql.Identifier(role)))
    try:
        yield parsed.set(username=role).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture(params=["trigger", "revoked"])
def unwritable(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    """The URL of an audit store that exists and can be read, but refuses every append."""
    AuditStore(database_url).dispose()  # migrated, as an operator would have
    if request.param == "trigger":
        refuse_inserts(database_url)
        yield database_url
        return
    if not database_url.startswith("postgresql"):
        pytest.skip("a role's privileges are PostgreSQL's (SQLite is covered by the trigger)")
    with read_only_role(database_url) as url:
        yield url


@pytest.mark.parametrize("read_only", ["refuse", "continue"])
async def test_in_process_nothing_is_booked_without_its_record(
    unwritable: str, read_only: Any
) -> None:
    tracing = configure_tracing(database_url=unwritable, otlp=False, read_only=read_only)
    model = travel_model()
    agent = travel_agent("travel", model=model, event_handlers=[AuditHandler(tracing, model=model)])
    bookings = Bookings()
    result = await agent.run(GENEVA, deps=bookings, user="alice", approvals=approve)
    tracing.shutdown()
    assert bookings.made == {}
    # What the employee reads: the refusal, of the search (refused too) or of the booking.
    assert result.output.startswith("Could not book: ")
    assert REFUSAL in result.output
    searched = result.state.messages[2].content[0]
    assert getattr(searched, "is_error", None) is (read_only == "refuse")


async def test_a_durable_worker_books_nothing_without_its_record(
    unwritable: str, dev_server: DevServer
) -> None:
    tracing = configure_tracing(database_url=unwritable, otlp=False, read_only="continue")
    client = await dev_server.client()
    queue = f"audit-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    bookings = Bookings()
    worker = create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: bookings},
        tracer_provider=tracing,
    )
    async with worker:
        agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, GENEVA, sender="alice")
    tracing.shutdown()
    assert bookings.made == {}
    assert reply.status == "completed"
    assert reply.output.startswith("Could not book: ") and REFUSAL in reply.output


async def test_the_record_is_in_the_store_when_the_body_runs(database_url: str) -> None:
    """Checked from inside the body: a process killed during it leaves the intent behind."""
    store = AuditStore(database_url)
    seen: list[dict[str, Any]] = []

    @tool(side_effects=True)
    def pay(ctx: RunContext[None], amount: int) -> str:
        """Pay an invoice."""
        seen.extend(r.record.attributes for r in store.records() if r.record.name == "intent pay")
        return "paid"

    def script(request: Any) -> Any:
        if len(request.messages) == 1:
            return tool_call("pay", amount=120, id="call-pay")
        return text_response("done")

    tracing = configure_tracing(store=store, otlp=False)
    model = FunctionModel(script, name="payer")
    agent = Agent(model, tools=[pay], event_handlers=[AuditHandler(tracing, model=model)])
    result = await agent.run("pay it", user="alice", conversation_id="conv-pay")
    tracing.shutdown()
    assert result.output == "done"
    (intent,) = seen
    assert intent["agentflow.step"] == "intent"
    assert intent["gen_ai.tool.call.id"] == "call-pay"
    assert intent["gen_ai.conversation.id"] == "conv-pay"
    assert intent["enduser.id"] == "alice"
    assert intent["agentflow.tool.side_effects"] is True
    assert len(intent["agentflow.tool.call.digest"]) == 64
    assert AuditStore.existing(database_url).verify().ok
