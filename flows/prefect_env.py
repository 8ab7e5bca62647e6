"""Prefect defaults for Footage, set before Prefect is first imported.

Telemetry and analytics are off; an operator's own environment still wins (setdefault).
"""

import os

for _key, _value in {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    # the temporary server needs longer than Prefect's 20 s on a busy two-core machine
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # the embedded Dask scheduler and nannies run in the run's process: their start/stop chatter
    # is not the operator's business (warnings still show)
    "DASK_LOGGING__DISTRIBUTED": "warning",
}.items():
    os.environ.setdefault(_key, _value)
