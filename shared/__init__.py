"""The common package every lab imports: settings, the model layer, the service shell, telemetry, storage.

Importing `shared` applies the offline switches (see `shared.config`) before any ML library loads.
"""

from shared import config as _config  # noqa: F401  (side effect: offline environment)
