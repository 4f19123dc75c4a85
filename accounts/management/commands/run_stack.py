"""manage.py run_stack: migrate, seed the demo, then web + worker + beat in one terminal.

What `make run` calls. The web process is gunicorn with the repository's configuration
(config/gunicorn.conf.py: workers restart on code changes under HEARTH_DEV), as in
production. Output lines are prefixed per process (honcho); Ctrl-C stops the three processes
(each in its own process group, so gunicorn's workers go too) and then the embedded
PostgreSQL and Redis if this checkout uses them, leaving nothing running.
"""

import os
import shlex
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from honcho.manager import Manager

from accounts.management.commands.seed_demo import DEMO_DOMAIN, DEMO_MEMBERS, DEMO_PASSWORD, OPS_EMAIL, OPS_PASSWORD
from config import embedded


class Command(BaseCommand):
    help = "Serve Hearth for development: web, one Celery worker and beat, with the demo tenant."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--bind", default="127.0.0.1", help="Address the web server listens on")

    def handle(self, *args, port, bind, **options):
        self.stdout.write("migrating the public schema and every tenant schema ...")
        call_command("migrate_tenants", verbosity=0)
        call_command("seed_demo", verbosity=0)
        self._print_welcome(port)

        python = sys.executable
        env = os.environ.copy()
        env.setdefault("PYTHONUNBUFFERED", "1")
        manager = Manager()
        gunicorn_conf = settings.BASE_DIR / "config" / "gunicorn.conf.py"
        manager.add_process("web", f"{python} -m gunicorn -c {shlex.quote(str(gunicorn_conf))} --bind {bind}:{port}", env=env)
        # The worker runs the AI models: at a lower CPU priority, so a burst of classifications
        # never slows the web's answers to customers on the same cores (docs/performance.md).
        manager.add_process("worker", f"nice -n 10 {python} -m celery -A config worker -l INFO -c 2 -n worker@%h --without-gossip --without-mingle", env=env)
        manager.add_process("beat", f"{python} -m celery -A config beat -l INFO", env=env)
        try:
            manager.loop()
        finally:
            if settings.USES_EMBEDDED_POSTGRES or settings.USES_EMBEDDED_REDIS:
                stopped = embedded.stop_all()
                self.stdout.write(f"stopped embedded servers: {', '.join(stopped) or 'none were running'}")
        sys.exit(manager.returncode)

    def _print_welcome(self, port):
        members = "\n".join(f"      {email:<28} {DEMO_PASSWORD}   ({role})" for email, _, role in DEMO_MEMBERS)
        self.stdout.write(
            f"""
  Hearth is starting (Ctrl-C stops everything).

  Demo tenant desk:  http://{DEMO_DOMAIN}:{port}/admin/
                     http://localhost:{port}/t/demo/admin/   (same tenant, by path prefix)
{members}
  Platform admin:    http://localhost:{port}/admin/
      {OPS_EMAIL:<28} {OPS_PASSWORD}   (platform operator)
  Health:            http://localhost:{port}/healthz

  These logins are for the demo only.
"""
        )
