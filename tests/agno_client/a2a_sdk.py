"""Drives `examples/agno_compat`'s A2A door with the protocol's own client, the official
Python SDK (`a2a-sdk`), which speaks to a 0.3 server through its compatibility transport:

    python a2a_sdk.py --base http://127.0.0.1:7777 --token <JWT> --other-token <another user's JWT>

It resolves a factory's agent card (its input schema in the card's extension), sends a message
with `metadata.factory_input` and gets a completed task with an `answer` artifact, streams
another (the task, the answer's artifact updates, the completed status), reads the
task back, sends input the factory refuses and gets a failed task naming the field, finds
another user's task missing, and is refused the card without a token. Prints one line a
check and exits non-zero on the first failure.
"""

import argparse
import asyncio
import sys
import traceback
import uuid

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import GetTaskRequest, Message, Part, Role, SendMessageRequest, TaskState

TEAM = "configurable-support-team"
EXTENSION = "https://agentos.dev/a2a/factory-input/v1"

passed = []


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def ok(name):
    passed.append(name)
    print(f"PASS {name}", flush=True)


def message(text, factory_input=None):
    sent = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)])
    if factory_input is not None:
        sent.metadata.update({"factory_input": factory_input})
    return sent


async def only_task(client, sent):
    """The one task `message:send` answers."""
    tasks = []
    async for response in client.send_message(SendMessageRequest(message=sent)):
        check(response.HasField("task"), f"a task, not {response}")
        tasks.append(response.task)
    check(len(tasks) == 1, f"{len(tasks)} answers")
    return tasks[0]


async def run(base, token, other_token):
    url = f"{base}/a2a/teams/{TEAM}"
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        card = await A2ACardResolver(http, url).get_agent_card()
        check(card.name == "Configurable Support Team", card.name)
        interface = card.supported_interfaces[0]
        check(interface.url == url and interface.protocol_binding == "JSONRPC", f"{interface}")
        extension = next(e for e in card.capabilities.extensions if e.uri == EXTENSION)
        schema = extension.params["schema"]
        check("include_reviewer" in schema["properties"], f"the input schema: {schema}")
        ok("agent card")

        client = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
        task = await only_task(client, message("billing-agent, where is my invoice?", {"include_reviewer": True}))
        check(task.status.state == TaskState.TASK_STATE_COMPLETED, f"state {task.status.state}")
        check(task.artifacts and task.artifacts[0].parts[0].text, f"the answer: {task.artifacts}")
        check(task.metadata["userId"] == "tenant_42", f"{task.metadata}")
        ok("message:send with factory_input")

        streaming = ClientFactory(ClientConfig(httpx_client=http, streaming=True)).create(card)
        kinds, answer, final = [], "", None
        sent = SendMessageRequest(message=message("stream the answer", {"include_reviewer": False}))
        async for response in streaming.send_message(sent):
            kind = response.WhichOneof("payload")
            kinds.append(kind)
            if kind == "artifact_update":
                answer += "".join(p.text for p in response.artifact_update.artifact.parts)
            elif kind == "status_update":
                final = response.status_update.status.state
        check(kinds[0] == "task" and "artifact_update" in kinds, f"the stream: {kinds}")
        check(final == TaskState.TASK_STATE_COMPLETED, f"its end: {final}")
        check("stream the answer" in answer, f"the streamed answer: {answer!r}")
        ok("message:stream")

        read = await client.get_task(GetTaskRequest(id=task.id))
        check(read.id == task.id and read.context_id == task.context_id, f"{read.id}")
        check(read.status.state == TaskState.TASK_STATE_COMPLETED, f"state {read.status.state}")
        ok("tasks:get")

        refused = await only_task(client, message("hi", {"include_reviewer": "yes"}))
        check(refused.status.state == TaskState.TASK_STATE_FAILED, f"state {refused.status.state}")
        said = refused.status.message
        refusal = next(p.data for p in said.parts if p.HasField("data"))
        locations = [list(error["loc"]) for error in refusal.struct_value["errors"]]
        check(["include_reviewer"] in locations, f"the field paths: {locations}")
        ok("refused input fails the task")

    other = {"Authorization": f"Bearer {other_token}"}
    async with httpx.AsyncClient(headers=other, timeout=30) as http:
        client = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
        try:
            await client.get_task(GetTaskRequest(id=task.id))
            raise AssertionError("another user read the task")
        except AssertionError:
            raise
        except Exception as error:  # the SDK's error for "Task not found"
            check("not found" in str(error).lower(), f"{type(error).__name__}: {error}")
        ok("another user's task is not found")

    async with httpx.AsyncClient(timeout=30) as http:
        try:
            await A2ACardResolver(http, url).get_agent_card()
            raise AssertionError("the card was served without a token")
        except AssertionError:
            raise
        except Exception as error:
            check("401" in str(error), f"{type(error).__name__}: {error}")
        ok("no token, no card")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--other-token", required=True)
    args = parser.parse_args()
    try:
        asyncio.run(run(args.base, args.token, args.other_token))
    except Exception:
        traceback.print_exc()
        print(f"a2a client: {len(passed)} passed, 1 failed")
        sys.exit(1)
    print(f"a2a client: {len(passed)} passed, 0 failed")


if __name__ == "__main__":
    main()
