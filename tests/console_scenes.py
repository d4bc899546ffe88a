"""What the console's browser tests set up besides the processes: recorded outputs posted
through the raw agent protocol, and axe-core run in the page.

- ``RecordedAgent``: an agent made with the admin API that answers its tasks with
  recorded outputs, speaking the agent protocol itself (``POST /agent/new``, ``GET
  /agent/task``, ``POST /agent/task``) to the server on 127.0.0.1.  Nothing ever
  connects to the addresses inside those outputs: they are text.
- ``TRACES`` / ``MTRS``: multi-hop routes of three places to one destination that share
  some hops (the merged path view) and diverge; ``DIG_ANSWERS``: different A records in
  different places; ``CURL`` and ``PING``: timings with a TLS handshake and a lost reply.
- ``axe_violations(page)``: axe-core (npm package in ``tests/axe``, installed by
  tox with ``npm ci`` where npm is, see tox.ini) injected into the page (the context needs ``bypass_csp``),
  WCAG 2.0/2.1 A and AA rules.
"""

import json
import pathlib
import urllib.request

from tests.processes import wait_until

AXE = pathlib.Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
DESTINATION = "93.184.216.34"

# Three places tracing one destination: bj and sh join in their carrier's core (hops 3-4),
# diverge after it (two edge routers) and meet again at the destination; fra takes
# another way, loses a probe at hop 3, then replies stop (hops 4-5): it never arrives.
TRACES = {
    "bj-telecom": """traceroute to 93.184.216.34 (93.184.216.34), 30 hops max, 60 byte packets
 1  _gateway (10.1.0.1)  0.412 ms  0.388 ms  0.361 ms
 2  202.97.12.1 (202.97.12.1)  3.120 ms  3.101 ms  3.087 ms
 3  202.97.50.9 (202.97.50.9)  8.523 ms  8.490 ms  8.501 ms
 4  ae-7.r20.lsanca07.us.bb.gin.ntt.net (129.250.3.121)  142.345 ms  142.301 ms  142.410 ms
 5  152.195.65.153 (152.195.65.153)  151.902 ms  151.877 ms  151.861 ms
 6  93.184.216.34 (93.184.216.34)  152.412 ms  152.398 ms  152.377 ms
""",
    "sh-telecom": """traceroute to 93.184.216.34 (93.184.216.34), 30 hops max, 60 byte packets
 1  _gateway (10.2.0.1)  0.501 ms  0.480 ms  0.455 ms
 2  202.97.33.5 (202.97.33.5)  2.812 ms  2.790 ms  2.801 ms
 3  202.97.50.9 (202.97.50.9)  7.950 ms  7.931 ms  7.940 ms
 4  ae-7.r20.lsanca07.us.bb.gin.ntt.net (129.250.3.121)  139.120 ms  139.098 ms  139.150 ms
 5  152.195.65.141 (152.195.65.141)  148.302 ms  148.277 ms  148.290 ms
 6  93.184.216.34 (93.184.216.34)  149.012 ms  148.998 ms  149.030 ms
""",
    "fra-transit": """traceroute to 93.184.216.34 (93.184.216.34), 30 hops max, 60 byte packets
 1  _gateway (10.3.0.1)  0.301 ms  0.290 ms  0.280 ms
 2  80.81.192.10 (80.81.192.10)  1.220 ms  1.201 ms  1.187 ms
 3  * 62.115.122.4  9.512 ms  9.498 ms
 4  * * *
 5  * * *
""",
}

MTRS = {
    "bj-telecom": """Start: 2026-12-01T10:21:33+0000
HOST: bj-telecom                  Loss%   Snt   Last   Avg  Best  Wrst StDev
  1.|-- 10.1.0.1                   0.0%    10    0.4   0.4   0.3   0.6   0.1
  2.|-- 202.97.12.1                0.0%    10    3.1   3.2   3.0   3.9   0.2
  3.|-- 202.97.50.9                0.0%    10    8.5   8.6   8.4   9.0   0.2
  4.|-- 129.250.3.121             20.0%    10  142.3 142.5 142.1 143.9   0.5
  5.|-- 93.184.216.34             20.0%    10  152.4 152.6 152.2 153.8   0.4
""",
    "sh-telecom": """Start: 2026-12-01T10:21:33+0000
HOST: sh-telecom                  Loss%   Snt   Last   Avg  Best  Wrst StDev
  1.|-- 10.2.0.1                   0.0%    10    0.5   0.5   0.4   0.7   0.1
  2.|-- 202.97.33.5                0.0%    10    2.8   2.9   2.7   3.4   0.2
  3.|-- 202.97.50.9                0.0%    10    7.9   8.0   7.8   8.6   0.2
  4.|-- 129.250.3.121              0.0%    10  139.1 139.3 139.0 140.2   0.3
  5.|-- 93.184.216.34              0.0%    10  149.0 149.1 148.9 149.8   0.2
""",
    "fra-transit": """Start: 2026-12-01T10:21:33+0000
HOST: fra-transit                 Loss%   Snt   Last   Avg  Best  Wrst StDev
  1.|-- 10.3.0.1                   0.0%    10    0.3   0.3   0.2   0.4   0.0
  2.|-- 80.81.192.10               0.0%    10    1.2   1.2   1.1   1.5   0.1
  3.|-- 62.115.122.4               0.0%    10    9.5   9.6   9.4  10.2   0.2
  4.|-- 93.184.216.34              0.0%    10   92.1  92.3  91.9  93.0   0.3
""",
}


def dig_output(name, addresses, server="127.0.0.53"):
    """A full ``dig`` answer giving ``addresses`` as A records of ``name``."""
    records = "\n".join(f"{name}.\t300\tIN\tA\t{address}" for address in addresses)
    return f"""; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> +time=3 +tries=2 {name} A
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4222
;; flags: qr rd ra; QUERY: 1, ANSWER: {len(addresses)}, AUTHORITY: 0, ADDITIONAL: 0

;; QUESTION SECTION:
;{name}.\t\tIN\tA

;; ANSWER SECTION:
{records}

;; Query time: 12 msec
;; SERVER: {server}#53({server}) (UDP)
;; MSG SIZE  rcvd: 66
"""


DIG_ANSWERS = {
    "bj-telecom": dig_output("cdn.example.com", ["203.0.113.10", "203.0.113.11"]),
    "sh-telecom": dig_output("cdn.example.com", ["203.0.113.11", "203.0.113.10"]),
    "fra-transit": dig_output("cdn.example.com", ["198.51.100.7"]),
}

CURL = {
    "bj-telecom": "toolbox-curl:dns=0.012034;connect=0.160112;tls=0.480551;ttfb=0.801223;total=0.912001;"
                  "http=200;ip=93.184.216.34;size=1256;exit=0;error=\n",
    "sh-telecom": "toolbox-curl:dns=0.000420;connect=0.150031;tls=0.452120;ttfb=0.700450;total=0.751200;"
                  "http=200;ip=93.184.216.34;size=1256;exit=0;error=\n",
    "fra-transit": "toolbox-curl:dns=0.002200;connect=0.094001;tls=0.281300;ttfb=0.390100;total=0.402300;"
                   "http=503;ip=93.184.216.34;size=87;exit=0;error=\n",
}

PING = {
    "bj-telecom": """PING 93.184.216.34 (93.184.216.34) 56(84) bytes of data.
64 bytes from 93.184.216.34: icmp_seq=1 ttl=52 time=152.4 ms
64 bytes from 93.184.216.34: icmp_seq=2 ttl=52 time=158.9 ms
64 bytes from 93.184.216.34: icmp_seq=4 ttl=52 time=151.7 ms
64 bytes from 93.184.216.34: icmp_seq=5 ttl=52 time=171.2 ms

--- 93.184.216.34 ping statistics ---
5 packets transmitted, 4 received, 20% packet loss, time 4005ms
rtt min/avg/max/mdev = 151.700/158.550/171.200/7.712 ms
""",
    "sh-telecom": """PING 93.184.216.34 (93.184.216.34) 56(84) bytes of data.
64 bytes from 93.184.216.34: icmp_seq=1 ttl=52 time=149.0 ms
64 bytes from 93.184.216.34: icmp_seq=2 ttl=52 time=149.2 ms
64 bytes from 93.184.216.34: icmp_seq=3 ttl=52 time=148.9 ms
64 bytes from 93.184.216.34: icmp_seq=4 ttl=52 time=149.1 ms
64 bytes from 93.184.216.34: icmp_seq=5 ttl=52 time=149.0 ms

--- 93.184.216.34 ping statistics ---
5 packets transmitted, 5 received, 0% packet loss, time 4005ms
rtt min/avg/max/mdev = 148.900/149.040/149.200/0.102 ms
""",
    "fra-transit": """PING 93.184.216.34 (93.184.216.34) 56(84) bytes of data.
64 bytes from 93.184.216.34: icmp_seq=1 ttl=55 time=0.412 ms
64 bytes from 93.184.216.34: icmp_seq=2 ttl=55 time=0.388 ms
64 bytes from 93.184.216.34: icmp_seq=3 ttl=55 time=0.405 ms
64 bytes from 93.184.216.34: icmp_seq=4 ttl=55 time=0.391 ms
64 bytes from 93.184.216.34: icmp_seq=5 ttl=55 time=0.399 ms

--- 93.184.216.34 ping statistics ---
5 packets transmitted, 5 received, 0% packet loss, time 4005ms
rtt min/avg/max/mdev = 0.388/0.399/0.412/0.009 ms
""",
}
PLACES = ["bj-telecom", "sh-telecom", "fra-transit"]


def _request(url, method="GET", body=None, headers=None, timeout=20):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class RecordedAgent:
    """An agent that answers each task it fetches with a recorded output (raw protocol)."""

    def __init__(self, server_url, name, token):
        self.url, self.name, self.token = server_url, name, token
        _request(f"{server_url}/agent/new", "POST", {"name": name, "token": token})

    def answer(self, output, exit_code=0, timeout=30, duration_ms=1200):
        """Fetch the next task (long poll, bounded) and post ``output`` as its result."""
        def fetch():
            task = _request(f"{self.url}/agent/task?agent_name={self.name}",
                            headers={"Authorization": self.token}, timeout=40)
            return task if task.get("task_id") else None

        task = wait_until(fetch, timeout, step=0)
        assert task, f"{self.name} got no task within {timeout} s"
        _request(f"{self.url}/agent/task", "POST", {"name": self.name, "task_id": task["task_id"],
                                                    "result": output, "exit_code": exit_code,
                                                    "duration_ms": duration_ms},
                 headers={"Authorization": self.token})
        return task


def recorded_agents(call, server_url, names, tags=None):
    """Create ``names`` with the admin API (``call``) and register each as a RecordedAgent."""
    agents = {}
    for name in names:
        token = call(f"{server_url}/api/agents", "POST", {"name": name, "tags": (tags or {}).get(name, [])})["token"]
        agents[name] = RecordedAgent(server_url, name, token)
    return agents


def run_recorded(call, server_url, agents, tool, params, outputs, durations=None):
    """Start a job of ``tool`` on ``agents`` and answer every task with ``outputs[name]``
    (taking ``durations[name]`` ms, default 1200); return the job id once it has ended."""
    job = call(f"{server_url}/api/jobs", "POST", {"tool": tool, "params": params, "agents": list(outputs)})
    for name, output in outputs.items():
        agents[name].answer(output, duration_ms=(durations or {}).get(name, 1200))
    assert wait_until(lambda: call(f"{server_url}/api/jobs/{job['job_id']}")["finished_at"], 30)
    return job["job_id"]


def axe_violations(page, rules=("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")):
    """axe-core's violations on the page as it is now: [{id, impact, nodes: [target...]}]."""
    assert AXE.exists(), f"{AXE} is missing: run `npm ci --prefix tests/axe` (tox does where npm is)"
    if not page.evaluate("Boolean(window.axe)"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async (tags) => {
      const result = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => [n.target.join(" "), n.failureSummary.slice(0, 160)]) }));
    }""", list(rules))
    return found
