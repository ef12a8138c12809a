"""gunicorn's configuration for the web process: `ivr serve` runs gunicorn with it (`-c python:ivr.gunicorn_conf`).

- Workers: WEB_CONCURRENCY, else two per core plus one (requests wait on the database far more than on the CPU).
- Sync workers and a 10 s timeout: a request still running after 10 s has its worker restarted, so Twilio, which
  waits 15 s for a webhook, gets an error in time to fetch the number's fallback URL (which offers a callback)
  instead of playing "an application error has occurred". The phone tree cuts its own database work off well
  before that (`ivr.phone.timebox`); this is the backstop. Run it behind a proxy that buffers slow clients (nginx).
- Forwarded headers (X-Forwarded-Proto, -For, ...) are believed only from the addresses in TRUSTED_PROXIES (IP
  addresses or networks, separated by commas or spaces); none when it is unset.
- Metrics: prometheus-client's multiprocess mode, in PROMETHEUS_MULTIPROC_DIR (systemd: the unit's runtime
  folder) or a temporary folder; emptied at start, a dead worker's live gauges dropped when it exits.
- Garbage collection: what a worker holds once its app is built is frozen out of the collector's view
  (`post_worker_init`), so the rare full collection does not walk it while requests wait.
- Logs: one handler for gunicorn's own lines and the app's (LOG_FORMAT text or json); gunicorn's access log is off
  because the app writes one line per request itself, with the route rather than the path (no private links).
"""

from __future__ import annotations

import gc
import glob
import os
import tempfile
from typing import Any

from gunicorn.glogging import Logger

from callbacks.logs import lean_records
from config.settings import load_settings, parse_trusted_proxies

_settings = load_settings()
lean_records()  # gunicorn's master and its workers log with logconfig_dict below, never configure_logging

# Set before anything imports prometheus_client: it picks its storage once, at import.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-metrics-")
METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]
os.makedirs(METRICS_DIR, exist_ok=True)


def trusted_proxies(value: str) -> str:
    """TRUSTED_PROXIES as gunicorn's forwarded_allow_ips; a value that is neither a count nor addresses/networks
    stops the server with a message naming the variable. A count means our peer is always the (last) proxy."""
    try:
        parsed = parse_trusted_proxies(value)
    except ValueError as exc:
        raise SystemExit(f"TRUSTED_PROXIES: {exc}") from None
    if isinstance(parsed, int):
        return "*" if parsed else ""
    return ",".join(str(n) if n.num_addresses > 1 else str(n.network_address) for n in parsed)


def workers_for(cores: int, configured: int) -> int:
    """WEB_CONCURRENCY when set, else two per core plus one."""
    return configured or 2 * max(1, cores) + 1


wsgi_app = "ivr.app:create_app()"
bind = [_settings.web_bind]
# The cores this process may run on (CPU affinity, as systemd's CPUAffinity= or a container sets it).
workers = workers_for(len(os.sched_getaffinity(0)), _settings.web_concurrency)
worker_class = "sync"
timeout = 10
graceful_timeout = 10
forwarded_allow_ips = trusted_proxies(os.environ.get("TRUSTED_PROXIES", ""))
proc_name = "ivr-web"
# Each worker builds its own app (and database pool) after the fork: nothing is shared across processes.
preload_app = False
accesslog = None


class AppLogsRequests(Logger):
    """gunicorn's logger without its access log: with `logconfig_dict` set, gunicorn builds every request's access
    line (a dictionary of the request's headers and environ) and hands it to `gunicorn.access`, which drops it.
    The app writes the request's line itself (`ivr.web.requestlog`)."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


logger_class = AppLogsRequests
# gunicorn's control socket (gunicornc) is not used; two servers on one host would contend for its default path.
control_socket_disable = True
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request": {"()": "callbacks.logs.RequestContext"},
        "mask": {"()": "callbacks.logs.MaskPhoneNumbers"},
    },
    "formatters": {"ivr": {"()": "callbacks.logs.formatter", "style": _settings.log_format}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "ivr",
                   "filters": ["request", "mask"]},
    },
    "root": {"level": _settings.log_level, "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        "twilio.http_client": {"level": "WARNING"},
        "apscheduler": {"level": "WARNING"},
    },
}


def unshared_limits(workers: int, storage_url: str) -> str | None:
    """Why the abuse limits are looser than configured, when they are: with memory:// each worker counts only the
    requests it serves itself."""
    if workers > 1 and storage_url.startswith("memory://"):
        return (f"RATELIMIT_STORAGE_URL is memory:// with {workers} web workers: each counts only its own requests, "
                f"so every abuse limit is up to {workers} times looser than configured; set RATELIMIT_STORAGE_URL "
                "to a Redis server (redis://host:6379) for the workers to share one count")
    return None


def on_starting(server: Any) -> None:
    """A fresh start counts from zero: files left by an earlier run would be added to this one's. Says so when the
    workers cannot share their abuse limits."""
    for path in glob.glob(os.path.join(METRICS_DIR, "*.db")):
        os.remove(path)
    warning = unshared_limits(server.cfg.workers, _settings.ratelimit_storage_url)
    if warning:
        server.log.warning(warning)


def post_worker_init(worker: Any) -> None:
    """The worker has built its app: what it holds now (libraries, configuration, compiled statements, prepared
    TwiML) lives as long as the worker. Frozen out of the garbage collector's view, so a full collection walks what
    requests allocate, not all of that: one full collection took 90 ms in a worker, and every request in flight
    waited for it."""
    gc.collect()
    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
