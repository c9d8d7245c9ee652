#!/usr/bin/env bash
# Create /work/main/.venv-peers (idempotent) and install the Pipecat peer into it.
#   bash benchmarks/peers/setup-peers.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.venv-peers"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "==> creating $venv"
  python3 -m venv "$venv"
else
  echo "==> reusing $venv"
fi
echo "==> upgrading pip"
"$venv/bin/python" -m pip install --upgrade --progress-bar on pip
echo "==> installing $here/requirements-pipecat.txt"
"$venv/bin/python" -m pip install --progress-bar on -r "$here/requirements-pipecat.txt"
echo "==> checking the models load"
"$venv/bin/python" - <<'PY'
from loguru import logger
logger.remove()
import pipecat
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
SileroVADAnalyzer(sample_rate=16000)
LocalSmartTurnAnalyzerV3()
print(f"pipecat {pipecat.version()}: Silero VAD and Smart Turn v3 load (torch not needed)")
PY
echo "==> run: $venv/bin/python $here/pipecat_bench.py --json $here/results/pipecat.json"
