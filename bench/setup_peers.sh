#!/usr/bin/env bash
# Creates the peer benchmark environment that bench/reward_training.py runs TRL from, the way
# the anchors' README says. TRL is a peer we measure against, never a dependency of Arbiter.
#   bench/setup_peers.sh [PEER_DIR]        (default /tmp/peer; TRL 1.12 goes to /tmp/trl112)
set -euo pipefail
PEER=${1:-/tmp/peer}
PYTHON=${PYTHON:-python3}
test -x "$PEER/bin/python" || "$PYTHON" -m venv "$PEER"
"$PEER/bin/pip" install --quiet torch==2.13.0
"$PEER/bin/pip" install --quiet transformers trl accelerate datasets tokenizers   # trl 1.16 when measured
"$PEER/bin/pip" install --quiet --no-deps --target /tmp/trl112 trl==1.12.0        # last TRL with PPO
"$PEER/bin/python" -c "import trl, transformers, torch; print('peer ready: trl', trl.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
