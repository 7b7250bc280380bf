"""Seeds the loopback site (idempotent): a staff agent and a normal user with fixed DRF
tokens, two queues, the Site's domain; writes seed.json into the site dir."""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hdsite.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sites.models import Site  # noqa: E402
from helpdesk.models import Queue  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

AGENT_TOKEN = "agent-token-loopback"
USER_TOKEN = "user-token-loopback"


def user(username: str, password: str, token: str, staff: bool) -> User:
    account, _ = User.objects.get_or_create(username=username)
    account.email = f"{username}@example.com"
    account.is_staff = account.is_superuser = staff
    account.set_password(password)
    account.save()
    Token.objects.filter(user=account).exclude(key=token).delete()
    Token.objects.get_or_create(user=account, key=token)
    return account


def queue(slug: str, title: str) -> Queue:
    found, _ = Queue.objects.get_or_create(
        slug=slug, defaults={"title": title, "allow_public_submission": True}
    )
    return found


port = sys.argv[1]
Site.objects.update_or_create(id=1, defaults={"domain": f"127.0.0.1:{port}", "name": "helpdesk"})
agent = user("agent", "agent-pass", AGENT_TOKEN, staff=True)
plain = user("user", "user-pass", USER_TOKEN, staff=False)
queues = [queue("it", "IT Support"), queue("facilities", "Facilities")]
seed = {
    "agent": {"id": agent.id, "username": "agent", "token": AGENT_TOKEN},
    "user": {"id": plain.id, "username": "user", "token": USER_TOKEN},
    "queues": [{"id": q.id, "slug": q.slug, "title": q.title} for q in queues],
}
(settings.SITE_DIR / "seed.json").write_text(json.dumps(seed, indent=1))
print(json.dumps(seed))
