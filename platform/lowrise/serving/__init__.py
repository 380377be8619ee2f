"""Running Lowrise for real: its settings, the production stack (`lowrise serve
--production`: gunicorn and a supervised rules worker), JSON logs and readiness checks.

Nothing here imports Flask; the web side (/healthz, /readyz, request ids and log lines,
trusted proxies) is lowrise.web.serving.
"""
