"""/healthz answers from the background probe: many probes with a slow helpdesk cost the
helpdesk nothing and leave Slack's requests their threads; /livez only says the process
serves; failures are cached like successes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.harness import Harness

SLOW_HELPDESK_SECONDS = 8.0


def test_forty_concurrent_healthz_with_a_slow_helpdesk_do_not_starve_slack(
    live: Harness,
) -> None:
    live.helpdesk.hang_next(1, SLOW_HELPDESK_SECONDS, path_contains="categor")
    live.health.start()  # its first check now waits on the slow helpdesk
    with ThreadPoolExecutor(max_workers=40) as pool:
        probes = [pool.submit(httpx.get, live.url + "/healthz", timeout=3) for _ in range(40)]
        # Slack's own client gives up after 3 s, like Slack: an answer is an answer in time
        answer = live.client.command("help")
        statuses = [probe.result().status_code for probe in probes]
    assert answer.status_code == 200 and "/ticket new" in answer.text
    assert statuses == [503] * 40  # "starting": the probe's first check is still waiting
    assert len(live.helpdesk.requests_to("categor")) == 1  # the probe's, not one per request
    assert httpx.get(live.url + "/livez").status_code == 200


def test_a_failed_check_is_kept_and_answered_without_asking_again(live: Harness) -> None:
    live.helpdesk.fail_next(50, status=503, path_contains="categor")  # past its retries
    assert not live.health.check_now().ok
    asked = len(live.helpdesk.requests_to("categor"))
    answers = [httpx.get(live.url + "/healthz") for _ in range(20)]
    assert {a.status_code for a in answers} == {503}
    assert all("helpdesk: " in a.text for a in answers)
    assert len(live.helpdesk.requests_to("categor")) == asked  # cached, failures too


def test_the_probe_checks_again_in_the_background(live: Harness) -> None:
    live.helpdesk.fail_next(1, status=503, path_contains="categor")
    live.health.every = 0.05
    live.health.start()
    before = time.time()
    recovered = live.health.wait_for_check_after(before, timeout=10)
    while not recovered.ok:  # the failed check came first; the next one succeeds
        recovered = live.health.wait_for_check_after(recovered.checked_at, timeout=10)
    assert httpx.get(live.url + "/healthz").text == "ok\n"
