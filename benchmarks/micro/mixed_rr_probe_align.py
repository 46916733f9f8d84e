#!/usr/bin/env python3
import sys,re,statistics as st
# Which stage of the mixed run each outside probe chunk fell in (from the
# driver's 2 s progress lines: sends per 2 s tell the stage), and the probe's
# median p50/p99 per stage. Used by mixed_rr_probe.sh.
o=sys.argv[1]
t0,t1=map(float,open(o+'.times').read().split())
prog=[]; prev=0
for line in open(o+'.err'):
    m=re.match(r'\[mixed (\d+)s\] sent (\d+)',line)
    if m:
        s,n=int(m.group(1)),int(m.group(2)); prog.append((s,n-prev)); prev=n
def stage(rate):  # per 2 s
    if rate>3000*2/2 and rate>5000: return None
    if rate>=4300: return 'together'
    if rate>=3000: return 'topic'
    if rate>=250: return 'rr'
    if rate>=60: return 'bulk'
    return 'idle'
probe=[tuple(map(float,l.split())) for l in open(o+'.probe')]
by={}
for t,p50,p99 in probe:
    rel=t-t0
    # the 2 s interval ending after rel+~0.5
    cand=[(s,n) for s,n in prog if s-2<=rel<s]
    if not cand: continue
    lab=stage(cand[0][1])
    by.setdefault(lab,[]).append((p50/1e6,p99/1e6))
for k,v in by.items():
    print("%-9s chunks %2d  probe p50 median %.3f ms, p99 median %.2f ms" % (k,len(v),st.median(x[0] for x in v),st.median(x[1] for x in v)))
