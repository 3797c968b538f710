import json, sys
for f in sys.argv[1:]:
    rows=[json.loads(l) for l in open(f) if l.strip()]
    ep=[r for r in rows if "epoch" in r and r.get("validation_accuracy") is not None]
    def at_best(vk, tk):
        best=None
        for r in ep:
            if best is None or r[vk] > best[vk]: best=r
        return best["epoch"], best[vk], best[tk]
    a=at_best("validation_accuracy","test_accuracy"); w=at_best("raw_validation_accuracy","raw_test_accuracy")
    last=ep[-1]
    print(f.split("/")[-1], f"average: best val {a[1]:.4f} @ {a[0]} test {a[2]:.4f} | trained: best val {w[1]:.4f} @ {w[0]} test {w[2]:.4f} | last epoch avg {last['test_accuracy']:.4f} raw {last['raw_test_accuracy']:.4f} | epochs {len(ep)}")
