"""The UI's main file for NiceGUI's user simulation: the real ``gui.app.serve`` over the data
root and broker the test names in the environment (``ui.run`` returns at once when simulated)."""

import os
from pathlib import Path

from gui.app import serve
from gui.config import UiConfig

serve(
    UiConfig(root=Path(os.environ["HOMELAB_TEST_UI_ROOT"]), bus=os.environ["HOMELAB_TEST_UI_BUS"])
)
