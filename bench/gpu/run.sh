#!/usr/bin/env bash
# The whole GPU comparison in one call (bench/gpu/README.md): Arbiter beside TRL on the issue's shapes,
# TRL and Arbiter alternating per shape, each run its own process under `timeout`; every RESULT line
# goes to $OUT/results.log, and bench/gpu/summarise.py prints the table with ratios at the end
# (also $OUT/summary.txt). From the project root:
#   bash bench/gpu/run.sh                                                  on the GPU machine, .peer carried
#   SHAPES=tiny SKIP_WHEELS=1 PY=/tmp/peer/bin/python bash bench/gpu/run.sh   the same on a CPU, small shapes
# Environment: OUT (/tmp/gpu-out), PY (python3), PEER (.peer: whl/ = TRL 1.16 and what it lacks there,
#   whl112/ = TRL 1.12), TRL112 (/tmp/trl112, where TRL 1.12 goes: TRL's PPO), BUDGET_S (470: a run that
#   would start with under 30 s left is skipped, and each run's timeout is cut to what is left),
#   PPO_ROUNDS (2: rounds of the GPT-2 PPO shape), TINY_ROUNDS (1: of the small PPO shape),
#   RM_VARIANTS and PPO_VARIANTS (Arbiter configurations, JSON separated by ';', '{}' = its defaults).
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRL_EXPERIMENTAL_SILENCE=1
OUT=${OUT:-/tmp/gpu-out}
PY=${PY:-python3}
PEER=${PEER:-.peer}
TRL112=${TRL112:-/tmp/trl112}
BUDGET_S=${BUDGET_S:-470}
PPO_ROUNDS=${PPO_ROUNDS:-2}
TINY_ROUNDS=${TINY_ROUNDS:-1}
RM_VARIANTS=${RM_VARIANTS:-'{};{"packing": true}'}
PPO_VARIANTS=${PPO_VARIANTS:-'{};{"sync_every": 8, "compile_decode": true}'}
mkdir -p "$OUT"
LOG=$OUT/results.log
ERR=$OUT/stderr.log
TMP=$(mktemp)
SECONDS=0

if [ "${SHAPES:-full}" = tiny ]; then  # every subcommand, both architectures, in seconds each on a CPU
  RM_GPT2="--arch gpt2 --layers 2 --embd 64 --heads 2 --max-len 64 --n-train 32 --n-eval 16 --batch 8 --threads 2"
  RM_LLAMA="--arch llama --layers 2 --embd 64 --heads 2 --max-len 64 --n-train 32 --n-eval 16 --batch 8 --threads 2"
  PPO_TINY="--layers 1 --embd 64 --heads 2 --steps 2 --batch 4 --resp 8 --threads 2"
  PPO_GPT2="--layers 2 --embd 64 --heads 2 --steps 2 --batch 8 --resp 16 --threads 2"
else  # the issue's: reward models GPT-2 12x768 (92M) and Llama 16x2048 (0.84B) at 512 tokens; PPO as the CPU bench, then GPT-2 12x768
  RM_GPT2="--arch gpt2 --layers 12 --embd 768 --heads 12 --max-len 512 --n-train 800 --batch 16"
  RM_LLAMA="--arch llama --layers 16 --embd 2048 --heads 16 --max-len 512 --n-train 800 --batch 16"
  PPO_TINY="--layers 2 --embd 128 --heads 4 --steps 16 --batch 16 --resp 32"
  PPO_GPT2="--layers 12 --embd 768 --heads 12 --steps 6 --batch 64 --resp 64"
fi

if [ "${SKIP_WHEELS:-0}" != 1 ]; then  # as the anchors' run.sh: no package index on the GPU machine
  [ -d "$PEER/whl" ] && [ -d "$PEER/whl112" ] || { echo "no $PEER/whl or $PEER/whl112: see bench/gpu/README.md"; exit 1; }
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$PEER"/whl/*.whl || exit 1
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$TRL112" "$PEER"/whl112/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi

result_line() {  # result_line ERROR ARGS...: the RESULT line of a run that printed none
  ERROR=$1 $PY -c 'import json, os, sys; print("RESULT " + json.dumps({"argv": sys.argv[1:], "error": os.environ["ERROR"]}))' "${@:2}"
}

m() {  # m LIMIT_S what --impl I [shape arguments]: one measurement (TRL 1.12 on the path for TRL's PPO)
  local limit=$1 left=$((BUDGET_S - SECONDS)) path=${PYTHONPATH:-} rc
  shift
  [ "$1 $3" = "ppo trl" ] && path=$TRL112${path:+:$path}
  echo "### +${SECONDS}s compare.py $*" >> "$LOG"
  if [ "$left" -lt 30 ]; then
    result_line "skipped: under 30 s of BUDGET_S=$BUDGET_S left" "$@" | tee -a "$LOG"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  PYTHONPATH=$path timeout "$limit" $PY bench/gpu/compare.py "$@" > "$TMP" 2>> "$ERR"
  rc=$?
  grep '^RESULT ' "$TMP" | tee -a "$LOG" || result_line "exit $rc$([ $rc = 124 ] && echo ": timed out after $limit s")" "$@" | tee -a "$LOG"
}

side_by_side() {  # side_by_side LIMIT_S what VARIANTS SHAPE REVERSED: TRL, then each Arbiter variant (REVERSED=1: the other way round)
  local limit=$1 what=$2 shape=$4 order i v
  IFS=';' read -ra variants <<< "$3"
  local all=("trl" "${variants[@]}")
  order=$(seq 0 $((${#all[@]} - 1)))
  [ "$5" = 1 ] && order=$(seq $((${#all[@]} - 1)) -1 0)
  for i in $order; do
    v=${all[$i]}
    if [ "$v" = trl ]; then
      m "$limit" "$what" --impl trl $shape
    elif [ "$v" = "{}" ]; then
      m "$limit" "$what" --impl arbiter $shape
    else
      m "$limit" "$what" --impl arbiter $shape --arbiter-config "$v"
    fi
  done
}

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no GPU: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  $PY -c "import torch, transformers, accelerate; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__)"
} 2>&1 | tee -a "$LOG"

# Most wanted first, so that a spent budget drops the least: round 1 of the GPT-2 shapes and the CPU
# bench's PPO shape, PPO's further rounds (the other way round each second round: Arbiter's variants
# first, TRL last), then the 0.84B reward model.
side_by_side 150 rm "$RM_VARIANTS" "$RM_GPT2" 0
side_by_side 200 ppo "$PPO_VARIANTS" "$PPO_GPT2" 0
side_by_side 120 ppo "$PPO_VARIANTS" "$PPO_TINY" 0
for round in $(seq 2 "$PPO_ROUNDS"); do
  side_by_side 200 ppo "$PPO_VARIANTS" "$PPO_GPT2" $(( (round + 1) % 2 ))
  [ "$round" -le "$TINY_ROUNDS" ] && side_by_side 120 ppo "$PPO_VARIANTS" "$PPO_TINY" $(( (round + 1) % 2 ))
done
side_by_side 180 rm "$RM_VARIANTS" "$RM_LLAMA" 0

echo "### all done in ${SECONDS}s" | tee -a "$LOG"
$PY bench/gpu/summarise.py "$LOG" | tee "$OUT/summary.txt"
rm -f "$TMP"
