import json,glob,re,sys
pat=sys.argv[1] if len(sys.argv)>1 else '/tmp/prod/f-*.out'
for out in sorted(glob.glob(pat)):
    base=out[:-4]
    try: d=json.load(open(base+'.d/report.json'))
    except Exception as e: print(out,'no report'); continue
    t=open(out).read()
    m=re.search(r'broker_cpu_ticks=(\d+) syscr=(\d+) syscw=(\d+)',t)
    ticks,r,w=map(int,m.groups())
    p=d['produce']; rec=p['records']; by=p['bytes']; cpu=d['broker']['cpu_seconds']
    busy=d.get('machine_cpu',{})
    tot=rec*(d['measured_s']+d['warmup_s'])/d['measured_s']  # records over the whole run incl. warm-up
    print(f"{base.split('/')[-1]:32s} rec={rec:9d} GB={by/1e9:6.3f} cpu_s={cpu:6.2f} cpu_s/Mrec={cpu/rec*1e6:6.3f} cpu_s/GB={cpu/by*1e9:6.3f} | whole run: ticks={ticks} reads/Mrec={r/tot*1e6:8.0f} writes/Mrec={w/tot*1e6:8.0f} other_cores={busy.get('other_cores', '?')}")
