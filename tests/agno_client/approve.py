"""Pauses and continues `examples/human_approval` with agno's own Python client,
`AgentOSClient`: its `refund-agent`, `approval-team` and `refund-review` workflow stop at
`issue_refund`, a tool that waits for a person's confirmation, and go on through agno's
continue calls.

    python approve.py --base http://127.0.0.1:7777 --token <JWT>     # a server verifying JWTs
    python approve.py --base http://127.0.0.1:7778                   # a server without auth

Each round starts a run (whole or streamed), checks that agno reads it as paused with one
requirement for `issue_refund` (the team's naming its Billing Agent), decides it with agno's
own types (`RunRequirement.confirm()`/`.reject()`, or `ToolExecution.confirmed`), and continues
it with `continue_agent_run`, `continue_agent_run_stream`, `continue_team_run`,
`continue_team_run_stream`, `continue_workflow_run` or `continue_workflow_run_stream`, which
must end the same run COMPLETED. The models must answer like
the project's OpenAI mock (the first tool is called once, then the results are echoed).
Prints one line a check and exits non-zero on the first failure.
"""

import argparse
import asyncio
import logging
import sys
import traceback
import uuid

from agno.client import AgentOSClient
from agno.os.schema import RunSchema, TeamRunSchema
from agno.run.agent import RunOutput
from agno.run.base import RunStatus
from agno.run.requirement import RunRequirement
from agno.run.team import TeamRunOutput
from agno.run.workflow import WorkflowRunOutput
from agno.workflow.types import StepRequirement

USER = "tenant_42"
AGENT = "refund-agent"
TEAM = "approval-team"
MEMBER = "billing-agent"
WORKFLOW = "refund-review"

passed = []


class Skipped(logging.Handler):
    """agno's client logs and skips an SSE event it cannot parse; this keeps them."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


skipped = Skipped()
logging.getLogger("agno").addHandler(skipped)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def the_refund_requirement(requirements, member=None):
    """The one open requirement, which must be the refund's confirmation."""
    check(requirements and all(isinstance(r, RunRequirement) for r in requirements),
          f"requirements {requirements!r}")
    active = [r for r in requirements if not r.is_resolved()]
    check(len(active) == 1, f"{len(active)} open requirements: {requirements!r}")
    requirement = active[0]
    tool = requirement.tool_execution
    check(tool is not None and tool.tool_name == "issue_refund", f"tool {tool!r}")
    check(tool.requires_confirmation and requirement.needs_confirmation, "waits for a confirmation")
    check(requirement.pause_type == "confirmation", requirement.pause_type)
    check(tool.result is None, f"not refunded yet: {tool.result!r}")
    check(requirement.id == tool.tool_call_id, f"requirement {requirement.id} for call {tool.tool_call_id}")
    check(requirement.member_agent_id == member, f"member {requirement.member_agent_id!r}")
    if member:
        check(requirement.member_agent_name == "Billing Agent", requirement.member_agent_name)
        check(requirement.member_run_id, "the member's run")
    return requirement


class Driver:
    def __init__(self, base, token):
        self.client = AgentOSClient(base_url=base, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"} if token else None
        # Without a token the client says who it is; with one, the token does.
        self.user = None if token else USER
        self.suffix = "jwt" if token else "open"

    def ok(self, name):
        passed.append(f"{name} ({self.suffix})")
        print(f"PASS {name} ({self.suffix})", flush=True)

    def session(self, kind):
        return f"agno-approve-{kind}-{self.suffix}-{uuid.uuid4()}"

    async def stream(self, events):
        before = len(skipped.records)
        collected = []
        async for event in events:
            collected.append(event)
        check(len(skipped.records) == before, f"agno's client skipped events: {skipped.records[before:]}")
        return collected

    async def stored(self, session_id, run_id):
        return await self.client.get_session_run(session_id, run_id, user_id=self.user, headers=self.headers)

    async def run(self):
        await self.agent_whole()
        await self.agent_rejected()
        await self.agent_streamed()
        await self.team_whole()
        await self.team_streamed()
        await self.workflow_whole()
        await self.workflow_streamed()

    async def agent_whole(self):
        c, h = self.client, self.headers
        session_id = self.session("agent")
        run = await c.run_agent(AGENT, "Please refund order 1042", session_id=session_id,
                                user_id=self.user, headers=h)
        check(isinstance(run, RunOutput), type(run))
        check(run.status == RunStatus.paused and run.is_paused, f"status {run.status}")
        check(run.agent_id == AGENT and run.session_id == session_id and run.user_id == USER, "run ids")
        requirement = the_refund_requirement(run.requirements)
        check(run.tools and any(t.tool_name == "issue_refund" and t.requires_confirmation for t in run.tools),
              "the paused call is among the run's tools")
        stored = await self.stored(session_id, run.run_id)
        check(isinstance(stored, RunSchema) and stored.status == "PAUSED", f"stored {stored.status}")
        self.ok("run_agent pauses")

        requirement.confirm()
        check(requirement.tool_execution.confirmed is True and requirement.is_resolved(), "confirmed")
        done = await c.continue_agent_run(AGENT, run.run_id, tools=[requirement.tool_execution],
                                          session_id=session_id, user_id=self.user, headers=h)
        check(isinstance(done, RunOutput), type(done))
        check(done.status == RunStatus.completed, f"status {done.status}: {done.content}")
        check(done.run_id == run.run_id, "the same run")
        check(not done.is_paused and not done.active_requirements, "nothing left to decide")
        check("refunded" in (done.content or ""), f"content {done.content!r}")
        refund = next(t for t in done.tools if t.tool_name == "issue_refund")
        check(refund.confirmed is True and refund.result and "refunded" in refund.result, f"refund {refund!r}")
        stored = await self.stored(session_id, run.run_id)
        check(stored.status == "COMPLETED", f"stored {stored.status}")
        self.ok("continue_agent_run")

    async def agent_rejected(self):
        c, h = self.client, self.headers
        session_id = self.session("agent-rejected")
        run = await c.run_agent(AGENT, "Refund order 1043 twice", session_id=session_id,
                                user_id=self.user, headers=h)
        check(run.status == RunStatus.paused, f"status {run.status}")
        requirement = the_refund_requirement(run.requirements)
        requirement.reject("already refunded last week")
        done = await c.continue_agent_run(AGENT, run.run_id, tools=[requirement.tool_execution],
                                          session_id=session_id, user_id=self.user, headers=h)
        check(done.status == RunStatus.completed, f"status {done.status}")
        check("already refunded last week" in (done.content or ""), f"the model read the note: {done.content!r}")
        refund = next(t for t in done.tools if t.tool_name == "issue_refund")
        check(refund.confirmed is False, f"refund {refund!r}")
        self.ok("continue_agent_run (rejected with a note)")

    async def agent_streamed(self):
        c, h = self.client, self.headers
        session_id = self.session("agent-stream")
        events = await self.stream(c.run_agent_stream(AGENT, "Please refund order 1044", session_id=session_id,
                                                      user_id=self.user, headers=h))
        names = [e.event for e in events]
        check(names[0] == "RunStarted" and names[-1] == "RunPaused", f"events {names}")
        paused = events[-1]
        check(paused.is_paused and paused.run_id, "a paused event with its run")
        the_refund_requirement(paused.requirements)
        # The other way agno's apps decide: flag the paused tool executions themselves and send
        # all of the run's tools back.
        check(paused.tools, "the paused event carries the run's tools")
        for tool in paused.tools:
            if tool.requires_confirmation:
                tool.confirmed = True
        events = await self.stream(c.continue_agent_run_stream(
            AGENT, paused.run_id, tools=paused.tools, session_id=session_id, user_id=self.user, headers=h))
        names = [e.event for e in events]
        check(names and names[-1] == "RunCompleted", f"events {names}")
        check(names[0] == "RunContinued", f"events {names}")
        check(all(e.run_id == paused.run_id for e in events), "the same run")
        check("refunded" in (events[-1].content or ""), f"content {events[-1].content!r}")
        stored = await self.stored(session_id, paused.run_id)
        check(stored.status == "COMPLETED", f"stored {stored.status}")
        self.ok("continue_agent_run_stream")

    async def team_whole(self):
        c, h = self.client, self.headers
        session_id = self.session("team")
        run = await c.run_team(TEAM, "billing-agent, refund order 1045", session_id=session_id,
                               user_id=self.user, headers=h)
        check(isinstance(run, TeamRunOutput), type(run))
        check(run.status == RunStatus.paused and run.is_paused, f"status {run.status}")
        check(run.team_id == TEAM and run.session_id == session_id and run.user_id == USER, "run ids")
        requirement = the_refund_requirement(run.requirements, member=MEMBER)
        billing = next(m for m in run.member_responses if m.agent_id == MEMBER)
        check(billing.status == RunStatus.paused and billing.run_id == requirement.member_run_id,
              f"the member paused: {billing.status}")
        stored = await self.stored(session_id, run.run_id)
        check(isinstance(stored, TeamRunSchema) and stored.status == "PAUSED", f"stored {stored.status}")
        self.ok("run_team pauses")

        requirement.confirm()
        done = await c.continue_team_run(TEAM, run.run_id, requirements=run.requirements,
                                         session_id=session_id, user_id=self.user, headers=h)
        check(isinstance(done, TeamRunOutput), type(done))
        check(done.status == RunStatus.completed, f"status {done.status}: {done.content}")
        check(done.run_id == run.run_id, "the same run")
        check(not done.active_requirements, "nothing left to decide")
        billing = next(m for m in done.member_responses if m.agent_id == MEMBER)
        check(billing.status == RunStatus.completed and "refunded" in (billing.content or ""),
              f"the member refunded: {billing.content!r}")
        stored = await self.stored(session_id, run.run_id)
        check(stored.status == "COMPLETED", f"stored {stored.status}")
        self.ok("continue_team_run")

    async def team_streamed(self):
        c, h = self.client, self.headers
        session_id = self.session("team-stream")
        events = await self.stream(c.run_team_stream(TEAM, "billing-agent, refund order 1046",
                                                     session_id=session_id, user_id=self.user, headers=h))
        names = [e.event for e in events]
        check(names[0] == "TeamRunStarted" and names[-1] == "TeamRunPaused", f"events {names}")
        check("RunPaused" in names, f"the member paused too: {names}")
        paused = events[-1]
        requirement = the_refund_requirement(paused.requirements, member=MEMBER)
        requirement.confirm()
        events = await self.stream(c.continue_team_run_stream(
            TEAM, paused.run_id, requirements=paused.requirements, session_id=session_id,
            user_id=self.user, headers=h))
        names = [e.event for e in events]
        check(names and names[0] == "TeamRunContinued" and names[-1] == "TeamRunCompleted", f"events {names}")
        check("RunContinued" in names and "RunCompleted" in names, f"the member went on: {names}")
        check(events[-1].run_id == paused.run_id, "the same run")
        stored = await self.stored(session_id, paused.run_id)
        check(stored.status == "COMPLETED", f"stored {stored.status}")
        check("refunded" in (stored.content or ""), f"stored content {stored.content!r}")
        self.ok("continue_team_run_stream")

    def the_refund_step(self, step_requirements):
        """The one step waiting, whose agent waits for the refund's confirmation; each of its
        agent's requirements is approved the way agno's cookbook does it, as a dict."""
        # The output gives agno's objects; an event's fields are left as the JSON carried them.
        step_requirements = [StepRequirement.from_dict(r) if isinstance(r, dict) else r
                             for r in step_requirements or []]
        check(step_requirements and all(isinstance(r, StepRequirement) for r in step_requirements),
              f"step requirements {step_requirements!r}")
        active = [r for r in step_requirements if not r.is_resolved]
        check(len(active) == 1, f"{len(active)} open step requirements")
        step = active[0]
        check(step.requires_executor_input and step.needs_executor_resolution, "its agent waits")
        check(step.step_name == "refund" and step.step_index == 1, f"step {step.step_name} {step.step_index}")
        check(step.executor_type == "agent" and step.executor_id == MEMBER, f"executor {step.executor_id}")
        check(len(step.executor_requirements) == 1, f"{step.executor_requirements!r}")
        waiting = RunRequirement.from_dict(step.executor_requirements[0])
        check(waiting.tool_execution.tool_name == "issue_refund" and waiting.needs_confirmation,
              f"waits on {waiting.tool_execution!r}")
        for requirement in step.executor_requirements:
            requirement["confirmation"] = True
            requirement["tool_execution"]["confirmed"] = True
        check(step.is_resolved, "decided")
        return step

    async def workflow_whole(self):
        c, h = self.client, self.headers
        session_id = self.session("workflow")
        run = await c.run_workflow(WORKFLOW, "Please refund order 1047", session_id=session_id,
                                   user_id=self.user, headers=h)
        check(isinstance(run, WorkflowRunOutput), type(run))
        check(run.status == RunStatus.paused and run.is_paused, f"status {run.status}")
        check(run.workflow_id == WORKFLOW and run.session_id == session_id, "run ids")
        check(run.paused_step_index == 1 and run.paused_step_name == "refund",
              f"paused at {run.paused_step_index} {run.paused_step_name}")
        self.the_refund_step(run.step_requirements)
        self.ok("run_workflow pauses")

        done = await c.continue_workflow_run(WORKFLOW, run.run_id, requirements=run.step_requirements,
                                             session_id=session_id, user_id=self.user, headers=h)
        check(isinstance(done, WorkflowRunOutput), type(done))
        check(done.status == RunStatus.completed, f"status {done.status}: {done.content}")
        check(done.run_id == run.run_id, "the same run")
        check(not done.is_paused, "nothing left to decide")
        check((done.content or "").startswith("Receipt: ") and "refunded" in done.content,
              f"content {done.content!r}")
        check(len(done.step_results) == 3, f"{len(done.step_results)} steps")
        self.ok("continue_workflow_run")

    async def workflow_streamed(self):
        c, h = self.client, self.headers
        session_id = self.session("workflow-stream")
        events = await self.stream(c.run_workflow_stream(WORKFLOW, "Please refund order 1048",
                                                         session_id=session_id, user_id=self.user, headers=h))
        names = [e.event for e in events]
        check(names[0] == "WorkflowStarted" and names[-1] == "WorkflowPaused", f"events {names}")
        check("StepExecutorPaused" in names and "RunPaused" in names, f"the step's agent paused: {names}")
        paused = events[-1]
        check(paused.paused_step_name == "refund", f"paused at {paused.paused_step_name}")
        step = self.the_refund_step(paused.step_requirements)
        events = await self.stream(c.continue_workflow_run_stream(
            WORKFLOW, paused.run_id, requirements=[step], session_id=session_id,
            user_id=self.user, headers=h))
        names = [e.event for e in events]
        check(names and names[0] == "StepExecutorContinued" and names[-1] == "WorkflowCompleted",
              f"events {names}")
        check("RunContinued" in names and "RunCompleted" in names, f"the step's agent went on: {names}")
        check(events[-1].run_id == paused.run_id, "the same run")
        self.ok("continue_workflow_run_stream")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token")
    args = parser.parse_args()
    try:
        await Driver(args.base, args.token).run()
    except Exception:
        traceback.print_exc()
        print(f"agno approve: {len(passed)} passed, 1 failed")
        sys.exit(1)
    print(f"agno approve: {len(passed)} passed, 0 failed")


if __name__ == "__main__":
    asyncio.run(main())
