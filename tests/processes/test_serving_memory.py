"""What a serving process loads: not what only other commands or some requests need
(docs/performance.md, peak memory). Checked in a fresh interpreter, as gunicorn's worker is."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.fakes.epixel import FakeEpixel
from tests.support.fakes.slack import FakeSlack
from tests.support.harness import BOT_TOKEN
from tests.support.processes import bot_env

LOADED = """
import json, sys
from bot.runtime import create_app
from bot.slack import client
create_app(run_worker=False)
print(json.dumps({
    "sandbox": sorted(m for m in sys.modules if m.startswith("bot.sandbox")),
    "fakeredis": "fakeredis" in sys.modules,
    "download clients": client._downloads.cache_info().currsize,
}))
"""


def test_a_serving_process_loads_no_sandbox_no_fakeredis_and_no_download_client(
    redis_url: str, redis_prefix: str
) -> None:
    with FakeSlack(bot_token=BOT_TOKEN) as slack, FakeEpixel() as helpdesk:
        env = bot_env(slack, helpdesk, redis_url, redis_prefix, SLACK_SIGNING_SECRET="s")
        done = subprocess.run(
            [sys.executable, "-c", LOADED], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {"sandbox": [], "fakeredis": False, "download clients": 0}
