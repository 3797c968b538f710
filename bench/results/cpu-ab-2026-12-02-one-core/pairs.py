import re, sys, statistics as st
for f in sys.argv[1:]:
    rows=[]
    for line in open(f):
        if re.match(r"^\d+ ", line):
            d=dict(re.findall(r"(\w+) ([\d,]+)", line[line.index(" "):]))
            rows.append({k:float(v.replace(",","")) for k,v in d.items()})
    keys=[k for k in rows[0] if k!="torch"]
    out=[f.split("/")[-1]]
    for k in keys:
        r=[x[k]/x["torch"] for x in rows]
        out.append(f"{k}/torch {st.median(r):.2f} [{min(r):.2f}-{max(r):.2f}] ≥1: {sum(v>=1 for v in r)}/{len(r)}")
    if len(keys)==2:
        r=[x[keys[1]]/x[keys[0]] for x in rows]
        out.append(f"{keys[1]}/{keys[0]} {st.median(r):.2f} [{min(r):.2f}-{max(r):.2f}] wins {sum(v>1 for v in r)}/{len(r)}")
    print("\n  ".join(out))
