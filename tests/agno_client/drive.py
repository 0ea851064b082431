"""Drives an agentos server with agno's own Python client, `AgentOSClient`, through every
call an agno app or its control plane makes, and asserts what each call returned.

    python drive.py --base http://127.0.0.1:7777 --token <JWT>     # a server verifying JWTs
    python drive.py --base http://127.0.0.1:7778                   # a server without auth

With a token, every request carries it and the server takes the user from it; without one,
requests name the user with `user_id`, as agno's clients do against an open server. The
server must serve `examples/agno_compat` (its team, agent and static team ids) on models that
answer like the project's OpenAI mock. Prints one line a call and exits non-zero on the first
failure.
"""

import argparse
import asyncio
import sys
import traceback
import uuid

from agno.client import AgentOSClient
from agno.db.base import SessionType
from agno.os.schema import RunSchema, TeamRunSchema, TeamSessionDetailSchema
from agno.run.agent import RunOutput
from agno.run.team import TeamRunOutput

USER = "tenant_42"
TEAM = "support-team"
AGENT = "tenant-agent"
STATIC_TEAM = "static-support-team"
MEMORY_AGENT = "memory-agent"
WORKFLOW = "draft-and-edit"

passed = []


def check(condition, what):
    if not condition:
        raise AssertionError(what)


class Driver:
    def __init__(self, base, token):
        self.client = AgentOSClient(base_url=base, timeout=30)
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"} if token else None
        # Without a token the client says who it is; with one, the token does.
        self.user = None if token else USER
        self.suffix = "jwt" if token else "open"

    async def call(self, name, coroutine_or_value):
        try:
            result = await coroutine_or_value if asyncio.iscoroutine(coroutine_or_value) else coroutine_or_value
        except Exception:
            print(f"FAIL {name} ({self.suffix})")
            traceback.print_exc()
            raise
        return result

    def ok(self, name):
        passed.append(f"{name} ({self.suffix})")
        print(f"PASS {name} ({self.suffix})", flush=True)

    async def run(self):
        c, h = self.client, self.headers

        config = await self.call("get_config", asyncio.to_thread(c.get_config, headers=h))
        check(config.os_id == "agno-compat", f"os_id {config.os_id}")
        check(config.databases, "config lists its databases")
        check({t.id for t in config.teams} >= {TEAM, STATIC_TEAM}, "config lists the teams")
        check({a.id for a in config.agents} == {AGENT, MEMORY_AGENT}, "config lists the agents")
        check(all(t.db_id for t in config.teams), "every team has a db_id")
        check(config.session and config.session.dbs, "sessions are served from a database")
        check(config.memory is not None and config.memory.dbs, "memories are served from a database")
        self.ok("get_config")

        agents = await self.call("list_agents", c.list_agents(headers=h))
        check([a.id for a in agents] == [AGENT, MEMORY_AGENT], f"agents {[a.id for a in agents]}")
        self.ok("list_agents")
        agent = await self.call("get_agent", asyncio.to_thread(c.get_agent, AGENT, headers=h))
        check(agent.id == AGENT and agent.is_factory and agent.factory_input_schema, "agent is a factory with a schema")
        self.ok("get_agent")

        teams = await self.call("list_teams", c.list_teams(headers=h))
        check(TEAM in [t.id for t in teams], f"teams {[t.id for t in teams]}")
        static = next(t for t in teams if t.id == STATIC_TEAM)
        check(static.mode == "coordinate" and static.db_id, "static team summary")
        self.ok("list_teams")
        team = await self.call("get_team", asyncio.to_thread(c.get_team, STATIC_TEAM, headers=h))
        check(team.members and {m.id for m in team.members} == {"billing-agent", "tech-support-agent"},
              "the static team is described with its members")
        check(team.system_message and team.system_message.get("instructions"), "instructions as system_message")
        self.ok("get_team")

        session_id = f"agno-client-{self.suffix}-{uuid.uuid4()}"
        run = await self.call("run_team", c.run_team(
            TEAM, "I need help with billing", session_id=session_id, user_id=self.user, headers=h))
        check(isinstance(run, TeamRunOutput), type(run))
        check(run.status.value == "COMPLETED" if hasattr(run.status, "value") else run.status == "COMPLETED",
              f"status {run.status}")
        check(run.team_id == TEAM and run.session_id == session_id, "team run ids")
        check(run.user_id == USER, f"user {run.user_id}")
        check(run.member_responses and run.member_responses[0].agent_id == "billing-agent", "delegated to billing")
        check(run.tools and run.tools[0].tool_name == "delegate_task_to_member", "delegation tool")
        check(run.metrics and run.metrics.total_tokens > 0, "metrics")
        check(run.messages and all(m.role != "system" for m in run.messages), "messages without the system prompt")
        self.ok("run_team")

        events = []
        async for event in c.run_team_stream(
                TEAM, "My router keeps rebooting, technical help please", session_id=session_id,
                user_id=self.user, headers=h):
            events.append(event)
        names = [e.event for e in events]
        check(names[0] == "TeamRunStarted" and names[-1] == "TeamRunCompleted", f"events {names}")
        check("RunStarted" in names and "TeamToolCallCompleted" in names, f"member events {names}")
        check(events[-1].content and "tool results" in events[-1].content, "final content")
        self.ok("run_team_stream")

        agent_session = f"agno-client-agent-{self.suffix}-{uuid.uuid4()}"
        agent_run = await self.call("run_agent", c.run_agent(
            AGENT, "What is my plan?", session_id=agent_session, user_id=self.user, headers=h,
            factory_input={"tone": "friendly"}))
        check(isinstance(agent_run, RunOutput), type(agent_run))
        check(agent_run.agent_id == AGENT and agent_run.content.startswith("[fake-openai model=gpt-4o-mini]"),
              f"agent run {agent_run.content}")
        self.ok("run_agent")

        agent_events = []
        async for event in c.run_agent_stream(
                AGENT, "Stream me an answer", session_id=agent_session, user_id=self.user, headers=h):
            agent_events.append(event)
        names = [e.event for e in agent_events]
        check(names[0] == "RunStarted" and names[-1] == "RunCompleted", f"agent events {names}")
        check("".join(e.content or "" for e in agent_events if e.event == "RunContent").endswith("Stream me an answer"),
              "streamed content")
        self.ok("run_agent_stream")

        # A run started in the background, then cancelled: 200 whether it was still running.
        background = await self.call("run_team(background)", c.run_team(
            TEAM, "background billing question", session_id=session_id, user_id=self.user,
            headers=h, background=True))
        check(background.run_id, "a background run has an id")
        await self.call("cancel_team_run", c.cancel_team_run(TEAM, background.run_id, headers=h))
        self.ok("cancel_team_run")
        await self.call("cancel_agent_run", c.cancel_agent_run(AGENT, agent_run.run_id, headers=h))
        self.ok("cancel_agent_run")

        created_id = f"agno-client-created-{self.suffix}-{uuid.uuid4()}"
        created = await self.call("create_session", c.create_session(
            session_type=SessionType.TEAM, session_id=created_id, user_id=self.user,
            session_name="Created by agno's client", session_state={"step": 1}, team_id=TEAM, headers=h))
        check(isinstance(created, TeamSessionDetailSchema), type(created))
        check(created.session_id == created_id and created.session_name == "Created by agno's client",
              f"created {created}")
        check(created.user_id == USER and created.session_state == {"step": 1}, f"owner and state {created}")
        self.ok("create_session")

        sessions = await self.call("get_sessions", c.get_sessions(
            session_type=SessionType.TEAM, component_id=TEAM, user_id=self.user, headers=h))
        ids = [s.session_id for s in sessions.data]
        check(session_id in ids and created_id in ids, f"sessions {ids}")
        listed = next(s for s in sessions.data if s.session_id == session_id)
        check(listed.total_tokens and listed.metrics, "a listed session has metrics")
        check(sessions.meta.total_count >= 2 and sessions.meta.search_time_ms is not None, "paging")
        self.ok("get_sessions")

        detail = await self.call("get_session", c.get_session(session_id, user_id=self.user, headers=h))
        check(isinstance(detail, TeamSessionDetailSchema), type(detail))
        check(detail.team_data and detail.team_data.get("team_id") == TEAM, f"team_data {detail.team_data}")
        check(detail.total_tokens and detail.metrics, "session metrics")
        check(any(m.get("tool_calls") for m in detail.chat_history), "chat history has the tool-calling turns")
        check(not any(m.get("role") == "system" for m in detail.chat_history), "no system prompt in the history")
        self.ok("get_session")

        runs = await self.call("get_session_runs", c.get_session_runs(session_id, user_id=self.user, headers=h))
        check(len(runs) >= 4, f"{len(runs)} runs")
        check(isinstance(runs[0], RunSchema) and runs[0].parent_run_id == run.run_id,
              "a member run comes right before its parent")
        check(isinstance(runs[1], TeamRunSchema) and runs[1].run_id == run.run_id and runs[1].parent_run_id == "",
              "the team run, with an empty parent")
        check(runs[1].run_input == "I need help with billing", runs[1].run_input)
        self.ok("get_session_runs")

        one = await self.call("get_session_run", c.get_session_run(session_id, run.run_id, user_id=self.user, headers=h))
        check(isinstance(one, TeamRunSchema) and one.run_id == run.run_id and one.created_at is not None, f"{one}")
        check(one.status == "COMPLETED", one.status)
        self.ok("get_session_run")

        renamed = await self.call("rename_session", c.rename_session(
            session_id, "Renamed by agno's client", user_id=self.user, headers=h))
        check(renamed.session_name == "Renamed by agno's client", renamed.session_name)
        self.ok("rename_session")

        updated = await self.call("update_session", c.update_session(
            created_id, session_type=SessionType.TEAM, session_state={"step": 2}, metadata={"source": "agno"},
            user_id=self.user, headers=h))
        check(updated.session_state == {"step": 2} and updated.metadata == {"source": "agno"}, f"{updated}")
        self.ok("update_session")

        await self.call("delete_session", c.delete_session(created_id, user_id=self.user, headers=h))
        try:
            await c.get_session(created_id, user_id=self.user, headers=h)
            raise AssertionError("the deleted session is still there")
        except Exception as error:  # httpx.HTTPStatusError
            check(getattr(getattr(error, "response", None), "status_code", None) == 404, f"{error!r}")
        self.ok("delete_session")

        await self.call("delete_sessions", c.delete_sessions(
            [session_id, agent_session], [SessionType.TEAM, SessionType.AGENT], user_id=self.user, headers=h))
        left = await c.get_sessions(user_id=self.user, headers=h)
        left_ids = [s.session_id for s in left.data]
        check(session_id not in left_ids and agent_session not in left_ids, f"left {left_ids}")
        self.ok("delete_sessions")

        await self.memories()
        await self.workflows()

    async def workflows(self):
        """A workflow factory: listed, described, run whole and streamed, its run cancelled."""
        c, h = self.client, self.headers
        listed = await self.call("list_workflows", c.list_workflows(headers=h))
        check([w.id for w in listed] == [WORKFLOW, "refund-review"], f"workflows {[w.id for w in listed]}")
        described = await self.call("get_workflow", c.aget_workflow(WORKFLOW, headers=h))
        check(described.id == WORKFLOW and described.name == "Draft and Edit", f"{described}")
        self.ok("list_and_get_workflow")

        session_id = f"workflow-{uuid.uuid4()}"
        run = await self.call("run_workflow", c.run_workflow(
            WORKFLOW, "Our invoice is late", session_id=session_id, user_id=self.user, headers=h))
        status = run.status.value if hasattr(run.status, "value") else run.status
        check(status == "COMPLETED", f"status {run.status}: {run.content}")
        check(run.workflow_id == WORKFLOW and run.session_id == session_id, f"ids {run.workflow_id} {run.session_id}")
        check([s.step_name for s in run.step_results] == ["draft", "edit", "sign"],
              f"steps {[s.step_name for s in run.step_results]}")
        check(run.content.startswith("[fake-openai") and " -- for " in run.content, f"content {run.content}")
        check(len(run.step_executor_runs) == 2 and all(r.agent_id for r in run.step_executor_runs),
              "the agents' runs come with the workflow's")
        self.ok("run_workflow")

        events = []
        async for event in c.run_workflow_stream(WORKFLOW, "Stream the draft", user_id=self.user, headers=h):
            events.append(event)
        names = [e.event for e in events]
        check(names[0] == "WorkflowStarted" and names[-1] == "WorkflowCompleted", f"workflow events {names}")
        check(names.count("StepStarted") == 3 and names.count("StepCompleted") == 3, f"steps {names}")
        check(events[-1].content and " -- for " in events[-1].content, f"final {events[-1].content}")
        self.ok("run_workflow_stream")

        # Cancelling a run that has ended changes nothing; the run stays as it ended.
        await self.call("cancel_workflow_run", c.cancel_workflow_run(WORKFLOW, run.run_id, headers=h))
        self.ok("cancel_workflow_run")

    async def memories(self):
        """The control plane's Memory page: create, read, list, change and delete memories."""
        c, h = self.client, self.headers
        fact = f"Prefers email over phone ({self.suffix})"
        created = await self.call("create_memory", c.create_memory(
            fact, user_id=USER, topics=["contact"], headers=h))
        check(created.memory == fact and created.user_id == USER and created.topics == ["contact"], f"{created}")
        check(created.updated_at is not None, "a memory has its update time")
        self.ok("create_memory")

        got = await self.call("get_memory", c.get_memory(created.memory_id, user_id=self.user, headers=h))
        check(got.memory_id == created.memory_id and got.memory == fact, f"{got}")
        self.ok("get_memory")

        second = await c.create_memory(f"Lives in Lisbon ({self.suffix})", user_id=USER, topics=["home"], headers=h)
        listed = await self.call("list_memories", c.list_memories(user_id=self.user, limit=1, headers=h))
        check(listed.meta.total_count >= 2 and len(listed.data) == 1, f"{listed.meta}")
        check(listed.data[0].memory_id == second.memory_id, "the newest first")
        found = await c.list_memories(user_id=self.user, search_content="LISBON", headers=h)
        check([m.memory_id for m in found.data] == [second.memory_id], f"search {found.data}")
        self.ok("list_memories")

        changed = await self.call("update_memory", c.update_memory(
            created.memory_id, f"Prefers email, never phone ({self.suffix})", user_id=USER,
            topics=["contact", "email"], headers=h))
        check(changed.memory.startswith("Prefers email, never") and changed.topics == ["contact", "email"], f"{changed}")
        self.ok("update_memory")

        topics = await self.call("get_memory_topics", c.get_memory_topics(user_id=self.user, headers=h))
        check({"contact", "email", "home"} <= set(topics), f"topics {topics}")
        self.ok("get_memory_topics")

        stats = await self.call("get_user_memory_stats", c.get_user_memory_stats(user_id=self.user, headers=h))
        mine = next(s for s in stats.data if s.user_id == USER)
        check(mine.total_memories >= 2 and mine.last_memory_updated_at is not None, f"{mine}")
        self.ok("get_user_memory_stats")

        await self.call("delete_memory", c.delete_memory(created.memory_id, user_id=self.user, headers=h))
        try:
            await c.get_memory(created.memory_id, user_id=self.user, headers=h)
            raise AssertionError("the deleted memory is still there")
        except Exception as error:  # httpx.HTTPStatusError
            check(getattr(getattr(error, "response", None), "status_code", None) == 404, f"{error!r}")
        self.ok("delete_memory")

        await self.call("delete_memories", c.delete_memories([second.memory_id], user_id=self.user, headers=h))
        left = await c.list_memories(user_id=self.user, headers=h)
        check(second.memory_id not in [m.memory_id for m in left.data], "deleted in bulk")
        self.ok("delete_memories")

        # A memory-enabled agent remembers what the user said, after its answer, and uses it in
        # the user's next session.
        told = f"I always travel with my bicycle ({self.suffix}, {uuid.uuid4()})"
        await self.call("run_agent(memory)", c.run_agent(
            MEMORY_AGENT, told, session_id=f"memory-{uuid.uuid4()}", user_id=self.user, headers=h))
        for _ in range(100):
            remembered = await c.list_memories(user_id=self.user, search_content=told, headers=h)
            if remembered.data:
                break
            await asyncio.sleep(0.1)
        check(remembered.data and remembered.data[0].memory == told, f"captured {remembered.data}")
        check(remembered.data[0].agent_id == MEMORY_AGENT, f"written by {remembered.data[0].agent_id}")
        self.ok("memory_agent_captures")
        await c.delete_memory(remembered.data[0].memory_id, user_id=self.user, headers=h)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token")
    args = parser.parse_args()
    try:
        await Driver(args.base, args.token).run()
    except Exception:
        traceback.print_exc()
        print(f"agno client: {len(passed)} passed, 1 failed")
        sys.exit(1)
    print(f"agno client: {len(passed)} passed, 0 failed")


if __name__ == "__main__":
    asyncio.run(main())
