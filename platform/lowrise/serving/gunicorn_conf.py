"""gunicorn's settings for Lowrise (`gunicorn -c python:lowrise.serving.gunicorn_conf
'lowrise.web:create_app()'`; `lowrise serve --production` runs exactly that, adding the
address, processes and threads on the command line).

- gthread workers: each process serves LOWRISE_WEB_THREADS requests at once and keeps idle
  connections open for LOWRISE_KEEPALIVE seconds (gunicorn's sync workers close every
  connection after one response), plus LOWRISE_LIVE_STREAMS threads for live pages' event
  streams (a sync worker would be held by one stream; the app refuses streams there).
- The app is loaded once, in the master, before the processes are forked (`preload_app`):
  the database is migrated once, and each process starts at once. No database connection
  crosses the fork: the master closes its pool once the app is loaded, and each process
  forgets whatever it inherited.
- gunicorn's own reading of X-Forwarded-Proto is off (`forwarded_allow_ips` empty):
  LOWRISE_TRUSTED_PROXIES alone decides whether forwarded headers count.
- Logs: LOWRISE_LOG_FORMAT=json turns gunicorn's access log off (the app writes one JSON
  line per request) and writes gunicorn's own lines as JSON; otherwise the access log is
  gunicorn's, with the duration and the request id.
"""

from __future__ import annotations

import os

from lowrise.serving import settings

_settings = settings.server_settings(os.environ)

worker_class = "gthread"
# an open live page holds a thread (lowrise.web.live): those come on top of the request threads
threads = _settings["LOWRISE_WEB_THREADS"] + (
    _settings["LOWRISE_LIVE_STREAMS"] if _settings["LOWRISE_LIVE"] else 0)
workers = _settings["LOWRISE_WEB_PROCESSES"]
keepalive = _settings["LOWRISE_KEEPALIVE"]
bind = [f"{_settings['LOWRISE_HOST']}:{_settings['LOWRISE_PORT']}"]
preload_app = True
forwarded_allow_ips = ""
graceful_timeout = 20
control_socket_disable = True  # gunicorn 24+: no control socket in the home folder
errorlog = "-"
if _settings["LOWRISE_LOG_FORMAT"] == "json":
    accesslog = None
    logconfig_dict = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "lowrise.serving.logs.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json",
                              "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"handlers": ["json"], "level": "INFO",
                                       "propagate": False}},
        "root": {"handlers": ["json"], "level": "WARNING"},
    }
else:
    accesslog = "-"
    access_log_format = ('%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s')


def _engine(server):
    app = server.app.wsgi()
    return app.extensions["lowrise"].engine


def when_ready(server) -> None:
    """In the master, the app loaded: close its connections before any process is forked."""
    _engine(server).dispose()


def post_fork(server, worker) -> None:
    """In each new process: forget any connection of the master's (never close it here)."""
    _engine(server).dispose(close=False)
