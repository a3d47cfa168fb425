#!/usr/bin/env bash
# guided_resolve acceptance per expert register of downstream-styles with the committed toy backbone (issue 15).
# Usage: docs/results/styles/measure.sh OUTDIR [ROWS]   (one seed; ~128 rows per register)
set -euo pipefail
out=${1:?output folder}; rows=${2:-128}
mkdir -p "$out"
for reg in prose terse steps gsm8k boxed chat answer-first; do
  rewriter toy data "downstream-style-$reg" --split train -n "$rows" --seed 0 -o "$out/$reg.jsonl"
  rm -rf "$out/$reg.out.jsonl.parts"
  rewriter rewrite "$out/$reg.jsonl" -o "$out/$reg.out.jsonl" --strategy guided_resolve --verifier toy-number \
    --seed 0 --report "$out/$reg.report" > "$out/$reg.log"
done
python - "$out" <<'PY'
import json, sys
from pathlib import Path
from rewriter.suites import styles
out = Path(sys.argv[1])
lines = ["| register | split | rows | self | guided | expert fallback | acceptance | target NLL before | after |",
         "|---|---|---|---|---|---|---|---|---|"]
for reg in styles.REGISTERS:
    r = json.loads((out / f"{reg}.report" / "report.json").read_text())
    p = r["provenance"]
    split = "seen" if reg in styles.SEEN_REGISTERS else "held out"
    lines.append(f"| {reg} | {split} | {r['rows']} | {p.get('self', 0)} | {p.get('guided', 0)} | "
                 f"{p.get('expert_fallback', 0)} | {r['acceptance_rate']:.2f} | {r['nll_before']['qa']['mean']:.2f} | "
                 f"{r['nll_after']['qa']['mean']:.2f} |")
(out / "table.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
