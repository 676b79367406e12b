#!/usr/bin/env python3
"""The table of benches/gpu_candidates.sh: reads OUT/results.json, writes OUT/table.md.

    gpu_candidates_table.py OUT MODE [SKIPPED]
"""
import json, sys
out, mode, skipped = sys.argv[1], sys.argv[2], sys.argv[3]
runs = [json.loads(l) for l in open(f"{out}/results.json") if l.strip()]
ok = [r for r in runs if not r.get("failed")]
gpu = next((r["gpu_name"] for r in runs), "none")
torch = next((r["torch"] for r in ok if r["impl"] == "pytorch"), "not run")
ms = lambda r: r["seconds_per_iteration"]["median"] * 1e3
def pick(impl, mode, size, key=None):
    for r in ok:
        if r["impl"] == impl and r["mode"] == mode and r["size"] == size and (
                key is None or r.get("convolution", r.get("tf32")) == key):
            return r
who = [("pytorch", False, "PyTorch fp32"), ("pytorch", True, "PyTorch TF32 (default)")]
cands = []
for r in ok:
    if r["impl"] != "pytorch" and r["convolution"] not in cands:
        cands.append(r["convolution"])
lines = [f"GPU: {gpu}; PyTorch {torch}; ours: wgpu, candidates {', '.join(cands)}; mode {mode}", "",
         "| work | size | who | ms | x PyTorch fp32 | x PyTorch TF32 | GPU MiB |", "|---|---|---|---|---|---|---|"]
for size in sorted({r["size"] for r in ok if r["mode"] != "run"}):
    for mode_, name in [("adam", "Adam iteration"), ("lbfgs-eval", "L-BFGS evaluation")]:
        fp32, tf32 = pick("pytorch", mode_, size, False), pick("pytorch", mode_, size, True)
        rows = [(label, pick(impl, mode_, size, key)) for impl, key, label in who]
        rows += [(f"ours {c}", pick("style-transfer", mode_, size, c)) for c in cands]
        for label, r in rows:
            if r is None:
                continue
            ratio = lambda ref: f"{ms(r) / ms(ref):.2f}" if ref else "-"
            lines.append(f"| {name} | {size} | {label} | {ms(r):.1f} | {ratio(fp32)} | {ratio(tf32)} | {r['peak_gpu_used_mib']} |")
lines += ["", "| whole L-BFGS run | size | iterations | evaluations | wall s (start-up included) | first iteration after s | final total loss | vs PyTorch fp32 | L-BFGS ms per iteration beyond evaluations | GPU MiB |",
          "|---|---|---|---|---|---|---|---|---|---|"]
for r in ok:
    if r["mode"] != "run":
        continue
    if r["impl"] == "pytorch":
        label, key = ("PyTorch TF32 (default)" if r.get("tf32") else "PyTorch fp32"), r.get("tf32")
    else:
        label, key = f"ours {r['convolution']}", r["convolution"]
    ref = pick("pytorch", "run", r["size"], False)
    rel = f"{(r['total_loss_last'] / ref['total_loss_last'] - 1) * 100:+.2f}%" if ref else "-"
    ev = pick(r["impl"], "lbfgs-eval", r["size"], key)
    run_s = r["seconds_per_iteration"]["median"] if r["impl"] != "pytorch" else None
    beyond = "-"
    if ev and r.get("evaluations") and run_s:
        beyond = f"{(run_s - r['evaluations'] * ms(ev) / 1e3) / r['iterations'] * 1e3:.1f}"
    lines.append(f"| {label} | {r['size']} | {r['iterations']} | {r.get('evaluations') or '-'} | {r['wall_seconds']:.1f} | "
                 f"{r['first_iteration_seconds']:.1f} | {r['total_loss_last']:.4e} | {rel} | {beyond} | {r['peak_gpu_used_mib']} |")
failed = [r["label"] for r in runs if r.get("failed")]
if failed:
    lines += ["", "Failed: " + "; ".join(failed)]
if skipped:
    lines += ["", "Skipped (time budget spent): " + skipped]
table = "\n".join(lines) + "\n"
open(f"{out}/table.md", "w").write(table)
print(table)
