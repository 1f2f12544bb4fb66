#!/usr/bin/env bash
# How the seed entries of both boards were produced (2 CPU cores, about 1.5 h in all). The BC rows
# ship their checkpoints (leaderboards/policies/checkpoints/<sha256>/, 0.9 MB each) so verify re-runs them.
# Run from the repository root in the DexBench venv. Outputs go to $RUNS (default runs/).
set -euo pipefail
RUNS="${RUNS:-runs}"
AUTHORS="DexBench team"
ids=$(python -c "from dexbench.envs.registry import ENV_TABLE; print(' '.join(ENV_TABLE))")

# Bounds: the scripted oracle and random actions on all 18 ids, 50 published seeds each.
for id in $ids; do
  dexbench eval --policy dexbench.policies:ScriptedPolicy --env "$id" --episodes 50 --workers 2 -q \
    --out "$RUNS/oracle/${id#DexMG/}.json"
  dexbench eval --policy dexbench.policies:RandomPolicy --env "$id" --episodes 50 --workers 2 -q \
    --out "$RUNS/random/${id#DexMG/}.json"
done
dexbench leaderboard submit-policy "$RUNS"/oracle/*.json --name "Scripted oracle" --authors "$AUTHORS" \
  --description "The task's scripted demonstrator, reading simulator state (upper bound)." \
  --out leaderboards/policies/scripted-oracle.json --overwrite
dexbench leaderboard submit-policy "$RUNS"/random/*.json --name "Random actions" --authors "$AUTHORS" \
  --description "Uniform random actions from the action space (lower bound)." \
  --out leaderboards/policies/random.json --overwrite

# The central experiment on both native pairs: 10 scripted D0 sources; 200 mimicgen demos vs 200
# demo_noise demos vs the 10 sources alone; the same BC-MLP trained on each; 50 episodes each.
for pair in TrayLift-PandaDex-D0 Pouring-GR1-D0; do
  dexbench demo --env "DexMG/$pair" -n 10 --out "$RUNS/src_$pair.hdf5" --overwrite -q
  dexbench compare --env "DexMG/$pair" --source "$RUNS/src_$pair.hdf5" --generators mimicgen,demo_noise \
    -n 200 --episodes 50 --threads 1 --workdir "$RUNS/compare_$pair" -q
done
# Generation to a wider layout (demo_noise cannot: it replays the sources' own initial states).
dexbench compare --env DexMG/Pouring-GR1-D1 --source "$RUNS/src_Pouring-GR1-D0.hdf5" --generators mimicgen \
  --no-source -n 200 --episodes 50 --workers 2 --threads 1 --workdir "$RUNS/compare_Pouring-GR1-D1" -q
dexbench leaderboard submit-generators "$RUNS"/compare_*/compare.json --authors "$AUTHORS" \
  --out-dir leaderboards/generators --overwrite
for data in source mimicgen demo_noise; do
  demos=200; [ "$data" = source ] && demos=10
  ckpts=(); for d in "$RUNS"/compare_*/bc_$data; do ckpts+=(--checkpoint "$d"); done  # shipped: rows verify
  dexbench leaderboard submit-policy "$RUNS"/compare_*/eval_$data.json "${ckpts[@]}" --name "BC-MLP ($data)" \
    --authors "$AUTHORS" --train-data "$data" --train-demos "$demos" --source-demos 10 \
    --description "dexbench train bc defaults (3x256 MLP, chunk 10, temporal ensembling, 5k steps), trained on $demos $data demos of the evaluated id." \
    --out "leaderboards/policies/bc-mlp-$data.json" --overwrite
done
dexbench leaderboard build

# Verification records of every policy submission (leaderboards/verified/, shown on the pages).
for f in leaderboards/policies/*.json; do
  dexbench leaderboard verify "$f" --episodes 2 --workers 2 -q --out "leaderboards/verified/$(basename "$f")" --overwrite
done
dexbench leaderboard build
