"""The queue against the real host: life cycle, cancel, retries, timeouts, dedupe, back
pressure, the event stream (replay, slow clients), concurrency limits, progress throttling,
delayed jobs and compaction. Every test talks HTTP/WebSocket to a `python -m enttok serve`."""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from enttok.testing import EventStream, RunningHost, start_host

SUPPORT = Path(__file__).parent / "support"
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
DEFAULT_WORKERS = 4
DEFAULT_DEPTH = 10_000


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(
        tmp_path_factory.mktemp("jobs"),
        plugins=["demo"],
        plugin_modules={"testjobs": "testjobs"},
        pythonpath=[SUPPORT],
    )
    yield running
    running.close()


@pytest.fixture(autouse=True)
def _tidy(host: RunningHost) -> Iterator[None]:
    """Each test leaves the shared host as it found it: default settings, nothing live."""
    yield
    reset = host.post(
        "/settings", json={"host": {"workers": DEFAULT_WORKERS, "max_queue_depth": DEFAULT_DEPTH}}
    )
    assert reset.status_code == 200, reset.text
    live = [
        job["job_id"]
        for status in ("queued", "running")
        for job in host.get("/jobs", params={"status": status, "limit": 500}).json()["jobs"]
    ]
    for job_id in live:
        host.post(f"/jobs/{job_id}/cancel")
    for job_id in live:
        assert host.wait_for_job(job_id, timeout=10)["status"] in TERMINAL


# -- helpers


def is_status(event: dict[str, Any], job_id: str, *statuses: str) -> bool:
    return (
        event["type"] == "job.status"
        and event["job_id"] == job_id
        and (not statuses or event["status"] in statuses)
    )


def follow(stream: EventStream, job_id: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The job's events from the stream until it ends (its terminal job.status included)."""
    deadline = time.monotonic() + timeout
    events = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"job {job_id} did not end in {timeout}s; saw {events[-5:]}")
        event = stream.next(remaining)
        if event["job_id"] == job_id:
            events.append(event)
            if is_status(event, job_id, *TERMINAL):
                return events


def statuses_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["status"] for event in events if event["type"] == "job.status"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def set_host(host: RunningHost, **values: Any) -> None:
    response = host.post("/settings", json={"host": values})
    assert response.status_code == 200, response.text


def assert_increasing(events: list[dict[str, Any]]) -> None:
    seqs = [event["seq"] for event in events]
    assert all(a < b for a, b in itertools.pairwise(seqs)), seqs


def post_together(host: RunningHost, bodies: list[dict[str, Any]], then_read: bool = False) -> list[Any]:
    """POST /jobs each body from 16 threads at once, each with a client of its own, so many
    submissions reach the host in the same turn of its event loop. With `then_read`, each
    thread reads its job back the moment its answer arrives: (POST answer, GET answer) pairs."""

    def post(body: dict[str, Any]) -> Any:
        with httpx.Client(headers={"X-Backend-Token": host.token}, trust_env=False, timeout=30) as client:
            answer = client.post(f"{host.url}/jobs", json=body)
            if not then_read:
                return answer
            return answer, client.get(f"{host.url}/jobs/{answer.json()['job_id']}")

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(post, bodies))


def start_blocker(host: RunningHost, stream: EventStream, seconds: float = 60) -> str:
    """A long, cancelable demo.sleep, returned once it runs."""
    job_id = host.submit("demo.sleep", {"seconds": seconds, "steps": int(seconds)})
    stream.wait_for(lambda e: is_status(e, job_id, "running"))
    return job_id


# -- life cycle


def test_sleep_streams_progress_and_statuses_in_order(host: RunningHost) -> None:
    with host.events() as stream:
        job_id = host.submit("demo.sleep", {"seconds": 0.6, "steps": 6})
        events = follow(stream, job_id)
        assert_increasing(stream.received)

    assert statuses_of(events) == ["queued", "running", "succeeded"]
    running_seq = next(e["seq"] for e in events if is_status(e, job_id, "running"))
    progress = [e for e in events if e["type"] == "job.progress"]
    assert len(progress) >= 2, events
    assert all(running_seq < e["seq"] < events[-1]["seq"] for e in progress)
    fractions = [e["progress"] for e in progress]
    assert all(0.0 <= f <= 1.0 for f in fractions), fractions
    assert fractions == sorted(fractions), fractions
    assert fractions[-1] == 1.0

    job = host.job(job_id)
    assert job["status"] == "succeeded"
    assert job["attempt"] == 1
    assert job["progress"] == 1.0
    assert job["message"] == "step 6/6"
    assert job["result"] == {"slept": 0.6}
    assert job["error"] is None

    stored = host.job_events(job_id)
    assert [e["seq"] for e in stored] == [e["seq"] for e in events]
    assert [e["type"] for e in stored] == [e["type"] for e in events]
    assert statuses_of(stored) == ["queued", "running", "succeeded"]


def test_unknown_job_is_404(host: RunningHost) -> None:
    for path in ("/jobs/job_nope", "/jobs/job_nope/events"):
        response = host.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "job_not_found"
    assert host.post("/jobs/job_nope/cancel").status_code == 404


# -- cancel


def test_cancel_queued_then_running_then_ended(host: RunningHost) -> None:
    set_host(host, workers=1)
    with host.events() as stream:
        running = start_blocker(host, stream)
        waiting = host.submit("demo.sleep", {"seconds": 60, "steps": 60})
        assert host.job(waiting)["status"] == "queued"

        canceled = host.post(f"/jobs/{waiting}/cancel")
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["status"] == "canceled"  # at once, not "requested"
        assert host.job(waiting)["status"] == "canceled"

        asked = time.monotonic()
        response = host.post(f"/jobs/{running}/cancel")
        assert response.status_code == 200, response.text
        stream.wait_for(lambda e: is_status(e, running, *TERMINAL), timeout=10)
        assert time.monotonic() - asked < 3

    job = host.job(running)
    assert job["status"] == "canceled"
    assert job["error"]["code"] == "canceled"
    assert statuses_of(host.job_events(running)) == ["queued", "running", "canceled"]
    never_ran = host.job(waiting)
    assert never_ran["attempt"] == 0
    assert statuses_of(host.job_events(waiting)) == ["queued", "canceled"]

    for job_id in (waiting, running):
        again = host.post(f"/jobs/{job_id}/cancel")
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "job_already_ended"
    finished = host.run("demo.noop")
    assert host.post(f"/jobs/{finished['job_id']}/cancel").status_code == 409


# -- failures and retries


def test_retryable_failure_backs_off_then_fails_after_max_attempts(host: RunningHost) -> None:
    with host.events() as stream:
        job_id = host.submit("demo.fail", {"message": "flaky", "retryable": True})
        requeued = stream.wait_for(lambda e: is_status(e, job_id, "queued") and "error" in e)
        waiting = host.job(job_id)
        events = follow(stream, job_id, timeout=20)
    events = [e for e in stream.received if e["job_id"] == job_id]

    assert waiting["status"] == "queued"
    assert waiting["attempt"] == 1
    assert waiting["error"] == {"code": "demo_retryable", "message": "flaky", "retryable": True}
    assert waiting["run_after"] == requeued["run_after"]
    assert at(waiting["run_after"]) >= at(requeued["at"]) + timedelta(seconds=0.4)  # backoff >= 0.5s

    assert statuses_of(events) == ["queued", "running", "queued", "running", "queued", "running", "failed"]
    runs = [e for e in events if is_status(e, job_id, "running")]
    assert [e["attempt"] for e in runs] == [1, 2, 3]
    retries = [e for e in events if is_status(e, job_id, "queued") and "error" in e]
    for retry, next_run in zip(retries, runs[1:], strict=True):
        assert at(next_run["at"]) >= at(retry["run_after"]), (retry, next_run)

    job = host.job(job_id)
    assert job["status"] == "failed"
    assert job["attempt"] == job["max_attempts"] == 3
    assert job["error"] == {"code": "demo_retryable", "message": "flaky", "retryable": True}


def test_non_retryable_failure_fails_at_once(host: RunningHost) -> None:
    with host.events() as stream:
        job_id = host.submit("demo.fail", {"message": "bad data", "retryable": False})
        events = follow(stream, job_id)
    assert statuses_of(events) == ["queued", "running", "failed"]
    job = host.job(job_id)
    assert job["attempt"] == 1
    assert job["error"] == {"code": "demo_failure", "message": "bad data", "retryable": False}


def test_retry_after_sets_run_after(host: RunningHost) -> None:
    delay = 1.0
    with host.events() as stream:
        job_id = host.submit("testjobs.retry_after", {"seconds": delay})
        requeued = stream.wait_for(lambda e: is_status(e, job_id, "queued") and "error" in e)
        waiting = host.job(job_id)
        follow(stream, job_id)
    events = [e for e in stream.received if e["job_id"] == job_id]

    wait = (at(requeued["run_after"]) - at(requeued["at"])).total_seconds()
    assert delay - 0.2 <= wait <= delay + 0.05, wait  # now + retry_after, not the exponential backoff
    assert waiting["status"] == "queued"
    assert waiting["run_after"] == requeued["run_after"]
    assert waiting["error"] == {"code": "rate_limited", "message": "rate limited", "retryable": True}

    second_run = [e for e in events if is_status(e, job_id, "running")][1]
    assert at(second_run["at"]) >= at(requeued["run_after"])
    job = host.job(job_id)
    assert job["status"] == "succeeded"
    assert job["result"] == {"attempt": 2}


def test_plain_exception_is_handler_error_with_traceback_only_in_events(host: RunningHost) -> None:
    job = host.run("testjobs.crash")
    assert job["status"] == "failed"
    assert job["attempt"] == 1  # permanent: max_attempts is 3, but no retry
    assert job["error"]["code"] == "handler_error"
    assert job["error"]["retryable"] is False
    assert "kaboom in the handler" in job["error"]["message"]

    logs = [e for e in host.job_events(job["job_id"]) if e["type"] == "log" and e["level"] == "error"]
    assert logs, "the traceback should be among the job's events"
    trace = logs[0]["traceback"]
    assert "Traceback (most recent call last)" in trace
    assert "_deep_inner_frame" in trace

    for response in (
        host.get(f"/jobs/{job['job_id']}"),
        host.get("/jobs", params={"type": "testjobs.crash"}),
    ):
        assert response.status_code == 200
        assert "Traceback" not in response.text
        assert "_deep_inner_frame" not in response.text
        assert "testjobs.py" not in response.text


def test_timeout_fails_the_attempt_as_retryable(host: RunningHost) -> None:
    with host.events() as stream:
        job_id = host.submit("testjobs.hang", {"seconds": 30})
        events = follow(stream, job_id, timeout=15)

    assert statuses_of(events) == ["queued", "running", "queued", "running", "failed"]
    first_run = next(e for e in events if is_status(e, job_id, "running"))
    retry = next(e for e in events if is_status(e, job_id, "queued") and "error" in e)
    assert retry["error"]["code"] == "timeout"
    assert retry["error"]["retryable"] is True
    ran_for = (at(retry["at"]) - at(first_run["at"])).total_seconds()
    assert 0.25 <= ran_for < 2, ran_for  # the type's timeout is 0.3s; the handler sleeps 30s
    job = host.job(job_id)
    assert job["status"] == "failed"
    assert job["attempt"] == 2
    assert job["error"]["code"] == "timeout"
    assert job["error"]["retryable"] is True


# -- dedupe and back pressure


def test_dedupe_key_returns_live_job_and_allows_a_new_one_after(host: RunningHost) -> None:
    key = f"dedupe-{time.monotonic_ns()}"
    payload = {"seconds": 60, "steps": 60}
    first = host.post("/jobs", json={"type": "demo.sleep", "payload": payload, "dedupe_key": key})
    assert first.status_code == 201, first.text
    job_id = first.json()["job_id"]

    queued_twin = host.post("/jobs", json={"type": "demo.sleep", "payload": payload, "dedupe_key": key})
    assert queued_twin.status_code == 200, queued_twin.text
    assert queued_twin.json()["job_id"] == job_id

    host.wait_for_job(job_id, frozenset({"running"}))
    running_twin = host.post("/jobs", json={"type": "demo.noop", "payload": {}, "dedupe_key": key})
    assert running_twin.status_code == 200, running_twin.text
    assert running_twin.json()["job_id"] == job_id
    assert host.job(job_id)["dedupe_key"] == key

    host.post(f"/jobs/{job_id}/cancel")
    assert host.wait_for_job(job_id)["status"] == "canceled"
    again = host.post("/jobs", json={"type": "demo.noop", "payload": {}, "dedupe_key": key})
    assert again.status_code == 201, again.text
    assert again.json()["job_id"] != job_id
    assert host.wait_for_job(again.json()["job_id"])["status"] == "succeeded"


def test_full_queue_answers_429(host: RunningHost) -> None:
    set_host(host, workers=1, max_queue_depth=3)
    with host.events() as stream:
        start_blocker(host, stream)
    keys = [f"full-{n}-{time.monotonic_ns()}" for n in range(3)]
    queued = [
        host.post("/jobs", json={"type": "demo.noop", "payload": {}, "dedupe_key": key}) for key in keys
    ]
    assert [r.status_code for r in queued] == [201, 201, 201], [r.text for r in queued]
    assert host.get("/status").json()["queue_depth"] == 3

    full = host.post("/jobs", json={"type": "demo.noop", "payload": {}})
    assert full.status_code == 429, full.text
    assert full.json()["error"]["code"] == "queue_full"
    assert full.json()["error"]["message"]
    assert full.headers.get("retry-after")

    # a job already queued is still returned for its dedupe key when the queue is full
    twin = host.post("/jobs", json={"type": "demo.noop", "payload": {}, "dedupe_key": keys[0]})
    assert twin.status_code == 200, twin.text
    assert twin.json()["job_id"] == queued[0].json()["job_id"]


def test_duplicates_in_flight_together_share_the_committed_job(host: RunningHost) -> None:
    """A submission that finds its dedupe key held by one still waiting for its commit
    answers only once that job is committed: the id it returns can be read at once."""
    body = {
        "type": "demo.noop",
        "payload": {},
        "dedupe_key": f"together-{time.monotonic_ns()}",
        "run_after": "2999-01-01T00:00:00Z",
    }
    responses = post_together(host, [body] * 16, then_read=True)
    assert sorted(r.status_code for r, _ in responses) == [200] * 15 + [201], [r.text for r, _ in responses]
    assert len({r.json()["job_id"] for r, _ in responses}) == 1
    assert [read.status_code for _, read in responses] == [200] * 16, [read.text for _, read in responses]


# -- the event stream


def test_a_burst_of_jobs_streams_exactly_the_events_it_stores(host: RunningHost) -> None:
    """Submissions, claims and settlements made in one turn share transactions, their events
    inserted in batches: each event still has its own seq, the stream has no gap, and what it
    delivers is what the database keeps, field for field."""
    set_host(host, workers=16)
    with host.events() as stream:
        responses = post_together(host, [{"type": "demo.noop", "payload": {}}] * 200)
        assert {r.status_code for r in responses} == {201}, [
            r.text for r in responses if r.status_code != 201
        ]
        waiting = {r.json()["job_id"] for r in responses}
        while waiting:
            event = stream.next()
            if is_status(event, event["job_id"], "succeeded"):
                waiting.discard(event["job_id"])
    assert_increasing(stream.received)
    seqs = [event["seq"] for event in stream.received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the stream has a gap"
    for response in responses:
        job_id = response.json()["job_id"]
        stored = host.job_events(job_id)
        assert statuses_of(stored) == ["queued", "running", "succeeded"], stored
        assert stored == [event for event in stream.received if event["job_id"] == job_id]


def test_a_batched_stream_brings_the_same_events_in_fewer_messages(host: RunningHost) -> None:
    """`?batch=1`: each message is an array of the events ready when it was sent. A burst
    leaves several ready at once, so fewer messages bring them, and still every event once,
    gap-free and in order; a reconnect with `since` replays in arrays too."""
    set_host(host, workers=16)
    with host.events(batch=True) as stream:
        first = host.submit("demo.noop")
        start = stream.wait_for(lambda e: is_status(e, first, "succeeded"))["seq"]
        responses = post_together(host, [{"type": "demo.noop", "payload": {}}] * 200)
        waiting = {r.json()["job_id"] for r in responses}
        while waiting:
            event = stream.next()
            if is_status(event, event["job_id"], "succeeded"):
                waiting.discard(event["job_id"])
    seqs = [event["seq"] for event in stream.received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the batched stream has a gap"
    assert stream.messages < len(stream.received), "no message carried more than one event"
    for response in responses:
        job_id = response.json()["job_id"]
        assert host.job_events(job_id) == [event for event in stream.received if event["job_id"] == job_id]

    with host.events(since=start, batch=True) as replay:
        while replay.next()["seq"] < seqs[-1]:
            pass
    assert [event["seq"] for event in replay.received] == [seq for seq in seqs if seq > start]
    assert replay.messages < len(replay.received), "the replay was not batched"


def test_reconnect_with_since_replays_missed_events(host: RunningHost) -> None:
    with host.events() as stream:
        first = host.submit("demo.noop")
        mark = stream.wait_for(lambda e: is_status(e, first, "succeeded"))["seq"]

    missed = host.submit("demo.sleep", {"seconds": 0.3, "steps": 3})
    assert host.wait_for_job(missed)["status"] == "succeeded"  # while we were away

    with host.events(since=mark) as stream:
        replayed = follow(stream, missed)
        live = host.submit("demo.noop")
        follow(stream, live)
    seqs = [e["seq"] for e in stream.received]
    assert seqs == list(range(mark + 1, mark + 1 + len(seqs))), seqs  # gap-free, strictly increasing
    assert statuses_of(replayed) == ["queued", "running", "succeeded"]
    assert [e["seq"] for e in replayed] == [e["seq"] for e in host.job_events(missed)]


def test_a_client_that_leaves_is_forgotten_without_waiting_for_an_event(host: RunningHost) -> None:
    with host.events() as stream:
        job_id = host.submit("demo.noop")
        stream.wait_for(lambda e: is_status(e, job_id, "succeeded"))
        assert host.get("/status").json()["event_subscribers"] >= 1
    # No event is produced from here on: the host must notice the close by itself.
    deadline = time.monotonic() + 5
    while (count := host.get("/status").json()["event_subscribers"]) != 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the state with a deadline
    assert count == 0, "a closed WebSocket is still subscribed (its task waits for the next event)"


@pytest.mark.parametrize("batch", [False, True], ids=["per-event", "batched"])
def test_slow_client_is_dropped_while_others_keep_up(host: RunningHost, batch: bool) -> None:
    count, size = 6000, 2000
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", host.port))
    with connect(
        f"ws://127.0.0.1:{host.port}/events?batch={int(batch)}",
        sock=raw,
        additional_headers={"X-Backend-Token": host.token},
        compression=None,
        max_queue=1,
        ping_interval=None,
        open_timeout=10,
    ) as slow:
        with host.events(batch=batch) as good:
            spam = host.submit("testjobs.spam", {"count": count, "size": size})
            others = [host.submit("demo.noop") for _ in range(20)]
            spam_events = follow(good, spam, timeout=60)
            for job_id in others:
                assert host.wait_for_job(job_id)["status"] == "succeeded"
            after = host.submit("demo.noop")
            follow(good, after)
            seqs = [e["seq"] for e in good.received]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the fast client missed events"
        assert sum(e["type"] == "log" for e in spam_events) == count
        assert host.job(spam)["status"] == "succeeded"

        received = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                message = json.loads(slow.recv(timeout=10))
                received += len(message) if batch else 1
        assert closed.value.rcvd is not None, "the host never closed the slow connection"
        assert closed.value.rcvd.code == 1013
        assert received < count, received


# -- workers


def test_concurrency_limit_per_type(host: RunningHost) -> None:
    with host.events() as stream:
        # All due at the same moment, as after a restart or a burst of retries.
        due = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat()
        ids = [host.submit("testjobs.limited", {"seconds": 0.3}, run_after=due) for _ in range(6)]
        pending, running, peak = set(ids), 0, 0
        deadline = time.monotonic() + 20
        while pending:
            event = stream.next(max(0.1, deadline - time.monotonic()))
            if event["type"] != "job.status" or event["job_id"] not in ids:
                continue
            if event["status"] == "running":
                running += 1
                peak = max(peak, running)
            elif event["status"] in TERMINAL:
                running -= 1
                pending.discard(event["job_id"])
    assert peak == 2  # the type allows 2; the pool has 4 workers
    jobs = [host.job(job_id) for job_id in ids]
    assert all(job["status"] == "succeeded" for job in jobs), jobs
    overlaps = [job["result"]["overlap"] for job in jobs]
    assert max(overlaps) == 2, overlaps


def test_blocking_handler_runs_in_a_thread_and_reports_progress(host: RunningHost) -> None:
    with host.events() as stream:
        job_id = host.submit("testjobs.blocking", {"steps": 6, "delay": 0.1})
        stream.wait_for(lambda e: e["type"] == "job.progress" and e["job_id"] == job_id)
        assert host.get("/health").status_code == 200  # the loop is not held by the handler
        events = follow(stream, job_id)
    job = host.job(job_id)
    assert job["status"] == "succeeded", job
    assert job["result"]["thread"] != "MainThread"
    fractions = [e["progress"] for e in host.job_events(job_id) if e["type"] == "job.progress"]
    assert len(fractions) >= 2, fractions
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert job["message"] == "step 6/6"
    assert statuses_of(events)[-1] == "succeeded"


def test_chatty_progress_is_throttled(host: RunningHost) -> None:
    with host.events() as stream:
        job_id = host.submit("testjobs.chatty", {"count": 10_000})
        events = follow(stream, job_id, timeout=30)
    progress = [e for e in events if e["type"] == "job.progress"]
    ran_for = (
        at(events[-1]["at"]) - at(next(e["at"] for e in events if is_status(e, job_id, "running")))
    ).total_seconds()
    assert 1 <= len(progress) <= ran_for / 0.25 + 3, (len(progress), ran_for)
    assert progress[-1]["progress"] == 1.0
    assert progress[-1]["message"] == "10000/10000"
    job = host.job(job_id)
    assert (job["progress"], job["message"]) == (1.0, "10000/10000")


def test_run_after_in_the_future_is_not_started_before(host: RunningHost) -> None:
    not_before = datetime.now(UTC) + timedelta(seconds=1.5)
    with host.events() as stream:
        response = host.post(
            "/jobs", json={"type": "demo.noop", "payload": {}, "run_after": not_before.isoformat()}
        )
        assert response.status_code == 201, response.text
        job_id = response.json()["job_id"]
        now = host.run("demo.noop")  # an idle worker does not take the delayed job early
        assert now["status"] == "succeeded"
        delayed = host.job(job_id)
        assert delayed["status"] == "queued"
        assert abs(at(delayed["run_after"]) - not_before) < timedelta(milliseconds=1)
        started = stream.wait_for(lambda e: is_status(e, job_id, "running"), timeout=10)
        follow(stream, job_id)
    assert at(started["at"]) >= not_before
    assert host.job(job_id)["status"] == "succeeded"


def test_compact_prunes_finished_jobs_and_checks_integrity(host: RunningHost) -> None:
    old = host.run("demo.noop")["job_id"]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    waiting = host.post("/jobs", json={"type": "demo.noop", "payload": {}, "run_after": later}).json()[
        "job_id"
    ]

    job = host.run("maintenance.compact", {"retention_days": 0, "vacuum": True})
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["integrity_check"] == "ok"
    assert result["deleted_jobs"] >= 1
    assert result["deleted_events"] >= 3
    assert result["vacuumed"] is True

    assert host.get(f"/jobs/{old}").status_code == 404
    assert host.get(f"/jobs/{old}/events").status_code == 404
    assert host.job(waiting)["status"] == "queued"  # unfinished jobs are never pruned
    assert host.job(job["job_id"])["status"] == "succeeded"
