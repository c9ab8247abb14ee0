import sys, re, urllib.request, json, time
def snap(url):
    d = {}
    for line in urllib.request.urlopen(url).read().decode().splitlines():
        if line.startswith('#'): continue
        m = re.match(r'^([a-zA-Z_:]+)(\{[^}]*\})?\s+(\S+)$', line)
        if m: d[(m.group(1), m.group(2) or '')] = float(m.group(3))
    return d
def delta(a, b):
    return {k: b[k]-a.get(k, 0) for k in b}
def hist(d, name, filt=''):
    buckets = sorted([(float(re.search(r'le="([^"]+)"', k[1]).group(1)), v) for k, v in d.items() if k[0]==name+'_bucket' and filt in k[1]])
    s = sum(v for k, v in d.items() if k[0]==name+'_sum' and filt in k[1]); c = sum(v for k, v in d.items() if k[0]==name+'_count' and filt in k[1])
    def q(p):
        for le, v in buckets:
            if c and v >= p*c: return le
        return float('nan')
    return c, (s/c*1e3 if c else 0), q(0.5)*1e3, q(0.99)*1e3
url = sys.argv[1]
if sys.argv[2] == 'snap':
    json.dump({'|'.join(k): v for k, v in snap(url).items()}, open(sys.argv[3], 'w'))
else:
    a = {tuple(k.split('|', 1)): v for k, v in json.load(open(sys.argv[3])).items()}
    d = delta(a, snap(url))
    print('stage (Produce)            count   mean ms  p50≤ms  p99≤ms')
    for n, f in [('logd_request_queue_seconds', 'Produce'), ('logd_request_local_seconds', 'Produce'), ('logd_produce_fsync_wait_seconds', ''), ('logd_request_duration_seconds', 'Produce'), ('logd_response_queue_seconds', 'Produce'), ('logd_response_send_seconds', 'Produce'), ('logd_log_flush_duration_seconds', '')]:
        c, m, p50, p99 = hist(d, n, f)
        print(f'{n[5:]:26s} {c:7.0f} {m:8.2f} {p50:7.2f} {p99:7.2f}')
    r = d[('logd_log_flush_rounds_total', '')]; fl = d[('logd_log_flush_files_total', '')]
    by = sum(v for k, v in d.items() if k[0]=='logd_topic_bytes_in_total')
    print(f'rounds {r:.0f}  files/round {fl/r:.2f}  bytes/round {by/r/1e3:.0f} kB  produce requests/round {hist(d,"logd_request_duration_seconds","Produce")[0]/r:.2f}')
